-- :checkhealth typilot
local config = require('typilot.config')

local M = {}

local health = vim.health

--- Runs a command and waits for it.
---@param cmd string[]
---@param timeout_ms integer
---@param env table<string, string>|nil
---@return { code: integer, stdout: string, stderr: string }|nil, string|nil
local function run(cmd, timeout_ms, env)
  local ok, obj = pcall(vim.system, cmd, { text = true, env = env })
  if not ok then
    return nil, tostring(obj)
  end
  local res = obj:wait(timeout_ms)
  if res.signal ~= 0 and res.code ~= 0 and (res.stdout or '') == '' then
    return nil, ('`%s` did not finish within %d s'):format(table.concat(cmd, ' '), timeout_ms / 1000)
  end
  return { code = res.code, stdout = res.stdout or '', stderr = res.stderr or '' }, nil
end

--- The settings the server will get, as far as the health check needs them.
---@return table
local function settings()
  return (config.options.settings or {}).typilot or {}
end

--- Environment for the CLI so `doctor` checks what the server will use.
---@return table<string, string>|nil
local function doctor_env()
  local s = settings()
  local env = {}
  local host = vim.tbl_get(s, 'ollama', 'host')
  if type(host) == 'string' and host ~= '' then
    env.OLLAMA_HOST = host
  end
  local path = vim.tbl_get(s, 'history', 'path')
  if type(path) == 'string' and path ~= '' then
    env.TYPILOT_HISTORY_PATH = path
  end
  return next(env) and env or nil
end

--- Doctor arguments carrying the configured model and privacy settings.
---@return string[]
local function doctor_args()
  local s = settings()
  local args = { 'doctor', '--json' }
  local model = vim.tbl_get(s, 'ollama', 'model')
  if type(model) == 'string' and model ~= '' then
    vim.list_extend(args, { '--model', model })
  end
  return args
end

local report = {
  ok = health.ok,
  info = health.info,
  warn = health.warn,
  warning = health.warn,
  error = health.error,
  fail = health.error,
}

--- Reports one check of `typilot-lsp doctor --json`.
---@param check table
---@param optional boolean  voice checks are warnings: voice is optional
local function report_check(check, optional)
  local status = tostring(check.status or check.level or (check.ok and 'ok') or 'error'):lower()
  local msg = check.message or check.detail or check.name or vim.inspect(check)
  if check.name and check.message and not tostring(check.message):find(check.name, 1, true) then
    msg = check.name .. ': ' .. check.message
  end
  local fix = check.fix or check.hint or check.advice
  local fn = report[status] or health.info
  if optional and fn == health.error then
    fn = health.warn
  end
  if fix and fn ~= health.ok and fn ~= health.info then
    fn(msg, { fix })
  else
    fn(msg)
  end
end

---@param name string|nil
---@return boolean
local function is_voice(name)
  return type(name) == 'string' and (name:lower():find('voice') ~= nil or name:lower():find('microphone') ~= nil
    or name:lower():find('whisper') ~= nil or name:lower():find('audio') ~= nil)
end

function M.check()
  health.start('typilot: Neovim')
  if vim.fn.has('nvim-0.10') == 0 then
    health.error('Neovim 0.10 or newer is required', { 'Upgrade Neovim' })
  else
    local v = vim.version()
    health.ok(('Neovim %d.%d.%d'):format(v.major, v.minor, v.patch))
  end
  if require('typilot')._did_setup then
    health.ok('setup() was called')
  else
    health.warn('setup() was not called: no buffer will get the server', {
      "Add require('typilot').setup({}) to your config (or `opts = {}` with lazy.nvim)",
    })
  end
  local clients = vim.lsp.get_clients({ name = config.name })
  if #clients > 0 then
    health.ok(('server running (client id %d)'):format(clients[1].id))
  else
    health.info('server not running yet: it starts with the first file buffer')
  end

  health.start('typilot: server')
  local base = config.base_cmd()
  local exe = base[1]
  if vim.fn.executable(exe) == 0 then
    health.error(('`%s` not found on $PATH'):format(exe), {
      'Install the server: pip install typilot-lsp (or pipx install typilot-lsp)',
      "or point setup({ cmd = { '/path/to/typilot-lsp' } }) at it",
    })
    return
  end
  local version_cmd = vim.list_extend(vim.deepcopy(base), { '--version' })
  local res, err = run(version_cmd, 20000)
  if not res or res.code ~= 0 then
    health.error(('`%s` failed: %s'):format(table.concat(version_cmd, ' '), err or vim.trim(res.stderr)), {
      'Reinstall the server: pip install --force-reinstall typilot-lsp',
    })
    return
  end
  health.ok(('%s (%s)'):format(vim.trim(res.stdout), vim.fn.exepath(exe)))

  health.start('typilot: Ollama, model, history, voice (typilot-lsp doctor)')
  local doctor_cmd = vim.list_extend(vim.deepcopy(base), doctor_args())
  res, err = run(doctor_cmd, 60000, doctor_env())
  if not res then
    health.error(('`%s` failed: %s'):format(table.concat(doctor_cmd, ' '), err or ''))
    return
  end
  local ok, decoded = pcall(vim.json.decode, res.stdout, { luanil = { object = true, array = true } })
  if not ok or type(decoded) ~= 'table' then
    health.error(
      ('`%s` gave no JSON report (exit %d): %s'):format(
        table.concat(doctor_cmd, ' '),
        res.code,
        vim.trim(res.stderr ~= '' and res.stderr or res.stdout)
      ),
      { 'Run it in a terminal to see the problem' }
    )
    return
  end
  local checks = decoded.checks or decoded
  for _, check in ipairs(checks) do
    if type(check) == 'table' then
      report_check(check, is_voice(check.name) or check.optional == true)
    end
  end
  if res.code ~= 0 then
    health.error('runs cannot work until the errors above are fixed (`typilot-lsp doctor` exit 1)')
  end
end

return M

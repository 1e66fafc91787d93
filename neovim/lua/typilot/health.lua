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
  if res.signal and res.signal ~= 0 then
    return nil,
      ('`%s` did not finish within %d s (signal %d)'):format(
        table.concat(cmd, ' '),
        timeout_ms / 1000,
        res.signal
      )
  end
  return { code = res.code, stdout = res.stdout or '', stderr = res.stderr or '' }, nil
end

--- The running Typilot client, if any (however it was started).
---@return vim.lsp.Client|nil
local function running_client()
  return vim.lsp.get_clients({ name = config.name })[1]
end

--- The settings the server gets: the running client's, else setup()'s.
---@return table
local function settings()
  local client = running_client()
  local from_client = client and type(client.settings) == 'table' and client.settings.typilot
  if type(from_client) == 'table' then
    return from_client
  end
  return (config.options.settings or {}).typilot or {}
end

--- A copy of a settings table in which every empty table is a JSON object: vim.json.encode
--- writes `{}` as `[]`, which the server would read as a list (`settings: typilot.typilot:
--- unknown setting` for a setup() without settings). Settings have no list values that can be
--- empty, so an empty table always means an empty object.
---@param value any
---@return any
local function as_json_objects(value)
  if type(value) ~= 'table' then
    return value
  end
  if next(value) == nil then
    return vim.empty_dict()
  end
  local out = {}
  for k, v in pairs(value) do
    out[k] = as_json_objects(v)
  end
  return out
end

--- Writes the settings to a temporary JSON file for `typilot-lsp doctor --settings FILE`, so
--- doctor checks the host, model, privacy and history settings the server will get.
---@return string|nil path, string|nil err
local function settings_file()
  local path = vim.fn.tempname() .. '.json'
  local ok, encoded = pcall(vim.json.encode, { typilot = as_json_objects(settings()) })
  if not ok then
    return nil, 'settings are not JSON-encodable: ' .. tostring(encoded)
  end
  if vim.fn.writefile({ encoded }, path) ~= 0 then
    return nil, 'cannot write ' .. path
  end
  return path, nil
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
  if
    check.name
    and check.message
    and not tostring(check.message):lower():find(tostring(check.name):lower(), 1, true)
  then
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

--- The heading a doctor check goes under; voice is optional, so its problems are warnings.
local sections = {
  {
    title = 'typilot: model server and model',
    names = { 'settings', 'ollama', 'server', 'api key', 'model', 'fim', 'privacy' },
  },
  { title = 'typilot: history', names = { 'history' } },
  { title = 'typilot: voice (optional)', names = { 'voice', 'microphone' }, optional = true },
}

--- The repository the plugin was loaded from (a clone has `pyproject.toml` next to `neovim/`),
--- so that the health check can say how to install the server from it.
---@return string|nil
function M.repository()
  local files = vim.api.nvim_get_runtime_file('lua/typilot/health.lua', false)
  if #files == 0 then
    return nil
  end
  local root = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fs.normalize(files[1])))))
  if vim.uv.fs_stat(root .. '/pyproject.toml') and vim.uv.fs_stat(root .. '/server/typilot_lsp') then
    return root
  end
  return nil
end

--- How a run's progress and the server's messages are shown.
function M.report_progress()
  local others = {}
  if package.loaded['fidget'] then
    table.insert(others, 'fidget.nvim')
  end
  if (vim.o.statusline .. vim.o.winbar):find('typilot', 1, true) then
    table.insert(others, "the 'statusline' (require('typilot').statusline())")
  end
  if config.options.progress then
    local msg = 'progress: one line in the message area while a run works (what runs, on which model, '
      .. 'tokens so far, how to cancel), cleared when it ends'
    if #others > 0 then
      health.warn(msg .. '; ' .. table.concat(others, ' and ') .. ' show it too', {
        'setup({ progress = false }) to show it only there',
      })
    else
      health.ok(msg .. '; setup({ progress = false }) turns it off')
    end
  else
    health.info(
      'progress: no line in the message area (`progress = false`); shown by: '
        .. (#others > 0 and table.concat(others, ' and ') or "nothing found: use require('typilot').statusline() or an LspProgress consumer")
    )
  end
  health.ok('server messages: one line in the message area (never a hit-enter prompt); full text in :Typilot log')
end

function M.check()
  health.start('typilot: Neovim')
  if vim.fn.has('nvim-0.10') == 0 then
    health.error('Neovim 0.10 or newer is required', { 'Upgrade Neovim' })
  else
    local v = vim.version()
    health.ok(('Neovim %d.%d.%d'):format(v.major, v.minor, v.patch))
  end
  local client = running_client()
  if require('typilot')._did_setup then
    health.ok('setup() was called')
  elseif client then
    health.ok('the client was started without setup() (nvim-lspconfig or vim.lsp.start)')
  else
    health.warn('setup() was not called: no buffer will get the server', {
      "Add require('typilot').setup({}) to your config (or `opts = {}` with lazy.nvim)",
    })
  end
  if client then
    health.ok(('server running (client id %d)'):format(client.id))
  else
    health.info('server not running yet: it starts with the first file buffer')
  end
  M.report_progress()

  health.start('typilot: server')
  local cmd = client and type(client.config.cmd) == 'table' and client.config.cmd or nil
  local base = config.base_cmd(cmd)
  local exe = base[1]
  if vim.fn.executable(exe) == 0 then
    local advice = {}
    local clone = M.repository()
    if clone then
      table.insert(
        advice,
        ('Install the server (Python 3.10 or newer) from the clone the plugin came from: pipx install %s'):format(
          vim.fn.fnameescape(clone)
        )
      )
    end
    table.insert(
      advice,
      (clone and 'or' or 'Install the server (Python 3.10 or newer):')
        .. ' pipx install typilot-lsp, or pip install typilot-lsp in a virtual environment'
    )
    table.insert(advice, "then, if it is not on $PATH: setup({ cmd = { '/path/to/venv/bin/typilot-lsp' } })")
    table.insert(advice, 'voice needs its extra: pipx install "typilot-lsp[voice]" (or pip install "typilot-lsp[voice]")')
    health.error(('`%s` not found on $PATH'):format(exe), advice)
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
  local server_version = vim.trim(res.stdout):match('^typilot%-lsp%s+(%S+)')
  local plugin_version = require('typilot.version')
  if server_version and server_version ~= plugin_version then
    health.warn(
      ('the plugin is %s, the server %s: settings or commands may not match'):format(plugin_version, server_version),
      { 'Update both from the same release: the plugin with your plugin manager, the server with pip/pipx' }
    )
  else
    health.ok(('plugin %s'):format(plugin_version))
  end

  local file, ferr = settings_file()
  if not file then
    health.error('cannot pass the settings to `typilot-lsp doctor`: ' .. ferr)
    return
  end
  local doctor_cmd = vim.list_extend(vim.deepcopy(base), { 'doctor', '--json', '--settings', file })
  res, err = run(doctor_cmd, 60000)
  os.remove(file)
  local shown = table.concat(base, ' ') .. ' doctor --json'
  if not res then
    health.start('typilot: model server and model')
    health.error(('`%s` failed: %s'):format(shown, err or ''))
    return
  end
  local ok, decoded = pcall(vim.json.decode, res.stdout, { luanil = { object = true, array = true } })
  if not ok or type(decoded) ~= 'table' or type(decoded.checks) ~= 'table' then
    health.start('typilot: model server and model')
    health.error(
      ('`%s` gave no JSON report (exit %d): %s'):format(
        shown,
        res.code,
        vim.trim(res.stderr ~= '' and res.stderr or res.stdout)
      ),
      { 'Run `' .. table.concat(base, ' ') .. ' doctor` in a terminal to see the problem' }
    )
    return
  end
  if decoded.ok == false or res.code ~= 0 then
    health.error('runs cannot work until the errors below are fixed (`typilot-lsp doctor` exits 1)')
  else
    health.ok('`typilot-lsp doctor`: runs can work')
  end
  local done = {} ---@type table<table, boolean>
  for _, section in ipairs(sections) do
    health.start(section.title)
    local any = false
    for _, check in ipairs(decoded.checks) do
      if type(check) == 'table' and vim.tbl_contains(section.names, check.name) then
        report_check(check, section.optional == true)
        done[check] = true
        any = true
      end
    end
    if not any then
      health.info('nothing to report')
    end
  end
  local rest = vim.tbl_filter(function(c)
    return type(c) == 'table' and not done[c]
  end, decoded.checks)
  if #rest > 0 then
    health.start('typilot: other checks')
    for _, check in ipairs(rest) do
      report_check(check, false)
    end
  end
end

return M

-- Typilot for Neovim: gen:/fix:/sum: code actions streamed from a local Ollama model.
--
--   require('typilot').setup({ cmd = { 'typilot-lsp' }, settings = { typilot = { ... } } })
--
-- See :help typilot.
local config = require('typilot.config')
local lsp = require('typilot.lsp')

local M = {}

--- Work-done progress of the Typilot client: token -> state, most recent last. `message` is the
--- latest message (the statusline's), `detail` the begin's (a run's instruction), `status` the
--- latest report's, `started` when it began (vim.uv.now()).
---@alias typilot.Job { title: string, message: string|nil, detail: string|nil, status: string|nil, percentage: integer|nil, seq: integer, started: integer }
---@type table<string|integer, typilot.Job>
local progress = {}
local progress_seq = 0

--- Push-to-talk state: the buffer voice capture was started in, nil when not listening.
---@type integer|nil
local voice_bufnr = nil
--- The progress token of the server's voice session ("Typilot voice": Listening, Transcribing).
local voice_token = nil
local VOICE_TITLE = 'Typilot voice'

---@param msg string
---@param level integer|nil
local function notify(msg, level)
  vim.notify('Typilot: ' .. msg, level or vim.log.levels.INFO)
end

--- The Typilot client for the current buffer, with a message when there is none.
---@return vim.lsp.Client|nil, integer
local function current_client()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = lsp.get_client(bufnr)
  if not client then
    notify(
      'no server attached to this buffer: call require("typilot").setup() and check :checkhealth typilot',
      vim.log.levels.WARN
    )
  end
  return client, bufnr
end

--- LspProgress of the Typilot client (the autocommand lives in plugin/typilot.lua, so progress is
--- tracked however the client was started: setup(), nvim-lspconfig, vim.lsp.start).
---@param ev { data: { client_id: integer, params: lsp.ProgressParams } }
function M._on_progress(ev)
  local data = ev.data or {}
  local client = vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= config.name then
    return
  end
  local params = data.params or {}
  local value = params.value
  if type(value) ~= 'table' then
    return
  end
  local token = params.token
  if value.kind == 'begin' and value.title == VOICE_TITLE then
    voice_token = token
  elseif value.kind == 'end' and token == voice_token then
    -- The session ended by itself (silence, time limit, an error) or after a stop.
    voice_token = nil
    voice_bufnr = nil
  end
  if value.kind == 'begin' then
    progress_seq = progress_seq + 1
    progress[token] = {
      title = value.title or 'Typilot',
      message = value.message,
      detail = value.message,
      percentage = value.percentage,
      seq = progress_seq,
      started = vim.uv.now(),
    }
  elseif value.kind == 'report' and progress[token] then
    local p = progress[token]
    p.message = value.message or p.message
    p.status = value.message or p.status
    p.percentage = value.percentage or p.percentage
  elseif value.kind == 'end' then
    progress[token] = nil
  end
  if config.options.progress then
    require('typilot.progress_line').refresh()
  end
  pcall(vim.cmd.redrawstatus)
end

--- Text for the statusline: the latest running Typilot job, '' when idle.
--- Example: vim.o.statusline = '%f %m%=%{v:lua.require("typilot").statusline()} %l:%c'
---@return string
function M.statusline()
  local latest, count = nil, 0
  for _, p in pairs(progress) do
    count = count + 1
    if not latest or p.seq > latest.seq then
      latest = p
    end
  end
  if not latest then
    return ''
  end
  local parts = { latest.title }
  if latest.message and latest.message ~= '' then
    table.insert(parts, latest.message)
  end
  if latest.percentage then
    table.insert(parts, ('%d%%'):format(latest.percentage))
  end
  local text = table.concat(parts, ' ')
  if not text:lower():find('typilot', 1, true) then
    text = 'Typilot: ' .. text
  end
  if count > 1 then
    text = text .. (' (+%d)'):format(count - 1)
  end
  return text
end

--- The Typilot client left a buffer (LspDetach): forget a voice session started there.
---@param bufnr integer
function M._on_detach(bufnr)
  if voice_bufnr == bufnr then
    voice_bufnr = nil
    voice_token = nil
  end
end

--- Forgets every job: the server stopped or crashed without ending them.
function M._clear_progress()
  progress = {}
  voice_token = nil
  voice_bufnr = nil
end

--- Running Typilot jobs, oldest first (for the progress line, scripts and tests).
---@return typilot.Job[]
function M.progress()
  local items = {}
  for _, p in pairs(progress) do
    table.insert(items, vim.deepcopy(p))
  end
  table.sort(items, function(a, b)
    return a.seq < b.seq
  end)
  return items
end

--- Stops the runs of the current buffer (`all`: every run of the server).
---@param all boolean|nil
function M.cancel(all)
  local client, bufnr = current_client()
  if not client then
    return
  end
  local args = {}
  if not all then
    args.uri = vim.uri_from_bufnr(bufnr)
  end
  lsp.execute(client, 'typilot.cancel', args, bufnr)
end

--- Whether push-to-talk is listening.
---@return boolean
function M.voice_active()
  return voice_bufnr ~= nil
end

--- Push-to-talk: the first call starts listening at the cursor, the next one stops it (the
--- server then transcribes and runs the spoken command).
function M.voice()
  local client, bufnr = current_client()
  if not client then
    return
  end
  local pos = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local args = { uri = pos.textDocument.uri, position = pos.position }
  if voice_bufnr then
    voice_bufnr = nil
    lsp.execute(client, 'typilot.voice.stop', args, bufnr)
    notify('transcribing…')
  else
    voice_bufnr = bufnr
    lsp.execute(client, 'typilot.voice.start', args, bufnr, function(err)
      if err then
        voice_bufnr = nil
      else
        notify('listening… run :Typilot voice again to stop')
      end
    end)
  end
end

---@param entry table
---@return string
local function entry_time(entry)
  local t = entry.createdAt or entry.created_at or entry.startedAt or entry.started_at or entry.time or entry.timestamp
  if type(t) == 'number' then
    return os.date('%Y-%m-%d %H:%M', math.floor(t)) --[[@as string]]
  elseif type(t) == 'string' then
    return (t:gsub('T', ' '):sub(1, 16))
  end
  return ''
end

--- One line of the history picker.
---@param entry table
---@return string
function M.format_history_entry(entry)
  local file = entry.uri or entry.fileUri or entry.file_uri or ''
  if file ~= '' then
    file = vim.fn.fnamemodify(vim.uri_to_fname(file), ':t')
  end
  local outcome = entry.outcome or entry.status or ''
  local parts = {
    entry_time(entry),
    (entry.command or '?') .. ':',
    entry.instruction or '',
  }
  if file ~= '' then
    table.insert(parts, '(' .. file .. ')')
  end
  if outcome ~= '' and outcome ~= 'done' then
    table.insert(parts, '[' .. outcome .. ']')
  end
  return vim.trim(table.concat(parts, ' '))
end

--- A scratch buffer with `lines` in a new window at the bottom, wiped when hidden.
---@param lines string[]
---@return integer bufnr
local function scratch_buffer(lines)
  vim.cmd('botright new')
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = 'nofile'
  vim.bo[bufnr].bufhidden = 'wipe'
  vim.bo[bufnr].swapfile = false
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modified = false
  return bufnr
end

--- Opens a history entry's response in a scratch buffer.
---@param entry table
---@return integer bufnr
function M.show_history_entry(entry)
  local response = entry.response
  local lines
  if type(response) == 'string' and response ~= '' then
    lines = vim.split((response:gsub('\r?\n$', '')), '\r?\n')
  else
    local outcome = entry.outcome or entry.status or ''
    local why = entry.error or entry.errorMessage or entry.error_message
    lines = {
      '(no response stored: '
        .. (outcome ~= '' and outcome or 'history.storeContent may be off')
        .. (type(why) == 'string' and (' — ' .. why) or '')
        .. ')',
    }
  end
  local bufnr = scratch_buffer(lines)
  local uri = entry.uri
  local ft = nil
  if type(uri) == 'string' and uri ~= '' then
    local ok, fname = pcall(vim.uri_to_fname, uri)
    ft = ok and vim.filetype.match({ filename = fname }) or nil
  end
  if ft then
    vim.bo[bufnr].filetype = ft
  end
  pcall(vim.api.nvim_buf_set_name, bufnr, ('typilot://history/%s'):format(entry.id or bufnr))
  return bufnr
end

--- Lists recent runs (from every editor and the voice sidecar) and opens the chosen response.
---@param limit integer|nil
function M.history(limit)
  local client, bufnr = current_client()
  if not client then
    return
  end
  lsp.request(client, 'typilot/history', { limit = limit or 50 }, function(err, result)
    if err then
      notify('history failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    local entries = result
    if type(result) == 'table' and result.entries then
      entries = result.entries
    end
    if type(entries) ~= 'table' or #entries == 0 then
      notify('no history yet')
      return
    end
    vim.ui.select(entries, {
      prompt = 'Typilot history',
      format_item = M.format_history_entry,
      kind = 'typilot.history',
    }, function(choice)
      if choice then
        M.show_history_entry(choice)
      end
    end)
  end, bufnr)
end

--- Deletes all history (asks first unless `force`).
---@param force boolean|nil
function M.purge(force)
  local client, bufnr = current_client()
  if not client then
    return
  end
  local function run()
    -- The server reports how many entries it deleted (window/showMessage).
    lsp.execute(client, 'typilot.history.purge', { all = true }, bufnr)
  end
  if force then
    return run()
  end
  vim.ui.select({ 'Delete all Typilot history', 'Keep it' }, {
    prompt = 'Delete every stored prompt and response?',
    kind = 'typilot.purge',
  }, function(_, idx)
    if idx == 1 then
      run()
    end
  end)
end

--- Opens the server's messages of this session, full text, in a scratch buffer (the message
--- area shows each on one line, cut to fit).
function M.log()
  local lines = {}
  for _, entry in ipairs(require('typilot.echo').log()) do
    local text = vim.split(entry.text, '\r?\n')
    table.insert(lines, ('%s %-7s %s'):format(entry.time, entry.level, text[1]))
    for i = 2, #text do
      table.insert(lines, (' '):rep(17) .. text[i])
    end
  end
  if #lines == 0 then
    lines = { '(no messages from the server in this session)' }
  end
  local bufnr = scratch_buffer(lines)
  pcall(vim.api.nvim_buf_set_name, bufnr, 'typilot://log')
end

--- Attaches the server to the current buffer (for `autostart = false`).
function M.start()
  local bufnr = vim.api.nvim_get_current_buf()
  if lsp.use_enable and vim.lsp.enable then
    vim.lsp.enable(config.name)
  end
  if not lsp.get_client(bufnr) then
    lsp.start(bufnr)
  end
end

---@param opts typilot.Options|nil
function M.setup(opts)
  config.set(opts)
  lsp.setup()
  M._did_setup = true
end

return M

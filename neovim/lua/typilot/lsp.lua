-- The language client: its configuration, how it starts, and the workspace/applyEdit handler
-- that merges the streamed edits of one run into one undo step.
local config = require('typilot.config')

local M = {}

local has_011 = vim.fn.has('nvim-0.11') == 1

--- Start through vim.lsp.config + vim.lsp.enable (Neovim >= 0.11); false: vim.lsp.start from a
--- FileType autocommand, as on 0.10 (the tests exercise that path on 0.11 too).
M.use_enable = has_011

--- Streamed runs: run id -> { [bufnr] = true } for the buffers a run has already edited.
---@type table<string, table<integer, boolean>>
local runs_seen = {}
--- Run id -> { applied = n, refused = n }: what the handler did with a run's edits.
---@type table<string, { applied: integer, refused: integer }>
local run_stats = {}
local runs_order = {} ---@type string[]
local MAX_REMEMBERED_RUNS = 200

--- Remembers that a run has edited a buffer: its next edits there join the same undo step.
---@param run_id string
---@param bufnr integer
local function mark_seen(run_id, bufnr)
  local bufs = runs_seen[run_id]
  if not bufs then
    bufs = {}
    runs_seen[run_id] = bufs
    table.insert(runs_order, run_id)
    if #runs_order > MAX_REMEMBERED_RUNS then
      local oldest = table.remove(runs_order, 1)
      runs_seen[oldest] = nil
      run_stats[oldest] = nil
    end
  end
  bufs[bufnr] = true
end

---@param run_id string
---@param key 'applied'|'refused'
local function count(run_id, key)
  local st = run_stats[run_id]
  if not st then
    st = { applied = 0, refused = 0 }
    run_stats[run_id] = st
  end
  st[key] = st[key] + 1
end

--- How many streamed edits of a run were applied and refused (stale version), for debugging.
---@param run_id string
---@return { applied: integer, refused: integer }|nil
function M.run_stats(run_id)
  return run_stats[run_id] and vim.deepcopy(run_stats[run_id])
end

--- The ids of the runs whose edits this editor received, oldest first.
---@return string[]
function M.run_ids()
  return vim.deepcopy(runs_order)
end

--- The version Neovim last reported to the servers for this buffer (what didChange carried).
---@param bufnr integer
---@return integer
function M.buf_version(bufnr)
  local v = rawget(vim.lsp.util.buf_versions, bufnr)
  if v == nil then
    v = vim.api.nvim_buf_get_changedtick(bufnr)
  end
  return v
end

--- Breaks the undo sequence in the current buffer, so the next change starts a new undo step
--- (see :help undo-break). Sets the buffer-local value to itself, so a buffer's own
--- 'undolevels' (or its "use the global value" marker) stays as it was.
local function break_undo()
  vim.bo.undolevels = vim.bo.undolevels
end

--- Applies one streamed edit of a Typilot run. Unlike Neovim's default handler, a stale version
--- answers applied=false (the default answers true and skips the edit), so the server
--- recomputes the edit against the text the user now has.
---@param params lsp.ApplyWorkspaceEditParams
---@param run_id string|nil  nil: an edit of the server's that is not part of a run (own undo step)
---@param position_encoding 'utf-8'|'utf-16'|'utf-32'
---@return lsp.ApplyWorkspaceEditResult
function M.apply_run_edit(params, run_id, position_encoding)
  local edit = params.edit or {}
  local doc_changes = edit.documentChanges
  ---@type { bufnr: integer, edits: lsp.TextEdit[] }[]
  local plan = {}
  if doc_changes then
    for _, change in ipairs(doc_changes) do
      if change.kind ~= nil then
        return {
          applied = false,
          failureReason = 'typilot: unexpected resource operation ' .. tostring(change.kind),
        }
      end
      local doc = change.textDocument
      local bufnr = vim.uri_to_bufnr(doc.uri)
      if not vim.api.nvim_buf_is_loaded(bufnr) then
        vim.fn.bufload(bufnr)
      end
      local version = doc.version
      if type(version) == 'number' and version > 0 and M.buf_version(bufnr) > version then
        if run_id then
          count(run_id, 'refused')
        end
        return {
          applied = false,
          failureReason = ('document changed: version %d is newer than the edit (%d)'):format(
            M.buf_version(bufnr),
            version
          ),
        }
      end
      table.insert(plan, { bufnr = bufnr, edits = change.edits })
    end
  else
    for uri, edits in pairs(edit.changes or {}) do
      local bufnr = vim.uri_to_bufnr(uri)
      if not vim.api.nvim_buf_is_loaded(bufnr) then
        vim.fn.bufload(bufnr)
      end
      table.insert(plan, { bufnr = bufnr, edits = edits })
    end
  end

  for _, item in ipairs(plan) do
    local seen = run_id ~= nil and runs_seen[run_id] ~= nil and runs_seen[run_id][item.bufnr] == true
    local ok, err = pcall(vim.api.nvim_buf_call, item.bufnr, function()
      if seen then
        -- Join with the run's previous edit; fails (E790) right after an undo or redo, and
        -- then this edit simply starts a new undo step.
        pcall(vim.cmd.undojoin)
      else
        break_undo()
      end
      vim.lsp.util.apply_text_edits(item.edits, item.bufnr, position_encoding)
    end)
    if not ok then
      -- The error's first line, without "Error executing lua: file:line:" and the traceback.
      local reason = tostring(err):match('^[^\n]*'):gsub('^Error executing lua: ', '')
      reason = reason:gsub('^%S-:%d+: ', '')
      return { applied = false, failureReason = reason }
    end
    if run_id then
      mark_seen(run_id, item.bufnr)
    end
  end
  if run_id then
    count(run_id, 'applied')
  end
  return { applied = true }
end

--- workspace/applyEdit for the Typilot client: runs labelled `typilot:<runId>` are handled here,
--- and so are the server's other own edits (label "Typilot ...", e.g. the line a voice command
--- inserts: version-checked, without the default handler's "Workspace edit" message); anything
--- else goes to Neovim's default handler.
---@param err lsp.ResponseError|nil
---@param params lsp.ApplyWorkspaceEditParams
---@param ctx lsp.HandlerContext
function M.apply_edit_handler(err, params, ctx, ...)
  local label = params and params.label
  local run_id = type(label) == 'string' and label:match('^typilot:(.+)$') or nil
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local own = run_id ~= nil or (type(label) == 'string' and vim.startswith(label, 'Typilot'))
  if not own or not client then
    return vim.lsp.handlers['workspace/applyEdit'](err, params, ctx, ...)
  end
  return M.apply_run_edit(params, run_id, client.offset_encoding)
end

--- Whether a buffer should get the Typilot client.
---@param bufnr integer
---@return boolean
local function wanted(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return false
  end
  local ft = vim.bo[bufnr].filetype
  if ft == '' then
    return false
  end
  local fts = config.options.filetypes
  return fts == nil or vim.tbl_contains(fts, ft)
end

--- One server for the whole editor: the history, the voice sidecar and run state are shared.
local function reuse_client(client, conf)
  return client.name == conf.name
end

--- The client configuration, as vim.lsp.config / vim.lsp.start take it.
---@return vim.lsp.ClientConfig
function M.client_config()
  local opts = config.options
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.workspace = capabilities.workspace or {}
  capabilities.workspace.applyEdit = true
  capabilities.workspace.workspaceEdit = vim.tbl_deep_extend(
    'force',
    capabilities.workspace.workspaceEdit or {},
    { documentChanges = true }
  )
  capabilities.window = capabilities.window or {}
  capabilities.window.workDoneProgress = true
  if opts.capabilities then
    capabilities = vim.tbl_deep_extend('force', capabilities, opts.capabilities)
  end
  return {
    name = config.name,
    cmd = opts.cmd,
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    settings = opts.settings,
    init_options = opts.init_options or opts.settings.typilot,
    capabilities = capabilities,
    flags = { debounce_text_changes = opts.debounce_text_changes },
    handlers = {
      ['workspace/applyEdit'] = M.apply_edit_handler,
      ['window/showMessage'] = require('typilot.echo').show_message_handler,
    },
    reuse_client = reuse_client,
    on_attach = opts.on_attach,
  }
end

--- Attaches the Typilot client to one buffer (starting the server if needed); Neovim 0.10 path,
--- and :Typilot start.
---@param bufnr integer
---@return integer|nil client_id
function M.start(bufnr)
  if not wanted(bufnr) then
    return nil
  end
  local conf = M.client_config()
  local root = vim.fs.root(bufnr, config.options.root_markers)
  conf.root_dir = root
  conf.root_markers = nil
  conf.filetypes = nil
  return vim.lsp.start(conf, { bufnr = bufnr, reuse_client = reuse_client })
end

local augroup = vim.api.nvim_create_augroup('typilot.lsp', { clear = true })

--- Registers the client so that it starts for every buffer.
function M.setup()
  vim.api.nvim_clear_autocmds({ group = augroup })
  if M.use_enable and vim.lsp.config and vim.lsp.enable then
    vim.lsp.config(config.name, M.client_config())
    if config.options.autostart then
      vim.lsp.enable(config.name)
    end
    return
  end
  if not config.options.autostart then
    return
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = augroup,
    callback = function(ev)
      M.start(ev.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      M.start(bufnr)
    end
  end
end

--- The running Typilot client of a buffer (or of any buffer when bufnr is nil).
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.get_client(bufnr)
  local clients = vim.lsp.get_clients({ name = config.name, bufnr = bufnr })
  return clients[1]
end

--- client:request on 0.11, client.request on 0.10.
---@param client vim.lsp.Client
---@param method string
---@param params table|nil
---@param handler fun(err: lsp.ResponseError|nil, result: any, ctx: lsp.HandlerContext)|nil
---@param bufnr integer|nil
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local REQUEST_FAILED = -32803

--- Runs a server command through workspace/executeCommand.
---@param client vim.lsp.Client
---@param command string
---@param args table|nil  the first (and only) argument object
---@param bufnr integer|nil
---@param on_done fun(err: lsp.ResponseError|nil, result: any)|nil
function M.execute(client, command, args, bufnr, on_done)
  local params = { command = command, arguments = args and { args } or nil }
  return M.request(client, 'workspace/executeCommand', params, function(err, result)
    -- RequestFailed (-32803): the server has already shown the message (window/showMessage).
    if err and err.code ~= REQUEST_FAILED then
      require('typilot.echo').message(
        ('Typilot: %s failed: %s'):format(command, err.message or vim.inspect(err)),
        vim.lsp.protocol.MessageType.Error
      )
    end
    if on_done then
      on_done(err, result)
    end
  end, bufnr)
end

return M

-- Options of require('typilot').setup(), merged over the defaults below.
local M = {}

---@class typilot.Options
---@field cmd string[] How to start the language server (stdio).
---@field filetypes string[]|nil Filetypes to attach to; nil means every file buffer with a filetype.
---@field root_markers string[] Files that mark a project root (only reported to the server).
---@field settings table The `typilot` settings section: { typilot = { ollama = {...}, ... } }.
---@field init_options table|nil initializationOptions; defaults to settings.typilot.
---@field debounce_text_changes integer Milliseconds; keep 0 so the server sees its edits echoed at once.
---@field on_attach fun(client: vim.lsp.Client, bufnr: integer)|nil
---@field capabilities table|nil Extra client capabilities, merged over Neovim's.
---@field autostart boolean Attach to buffers automatically (false: use :Typilot start).
---@field progress boolean Show a run's progress line in the message area (false: show it yourself,
--- with statusline() or an LspProgress consumer such as fidget.nvim). Old name: notify_progress.

---@type typilot.Options
M.defaults = {
  cmd = { 'typilot-lsp' },
  filetypes = nil,
  root_markers = { '.git' },
  settings = { typilot = {} },
  init_options = nil,
  debounce_text_changes = 0,
  on_attach = nil,
  capabilities = nil,
  autostart = true,
  progress = true,
}

---@type typilot.Options
M.options = vim.deepcopy(M.defaults)

--- The client name every part of the plugin looks clients up by.
M.name = 'typilot'

---@param opts table|nil
---@return typilot.Options
function M.set(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then
    error('typilot: setup() takes a table of options')
  end
  local merged = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  -- Lists are replaced, not merged index by index.
  if opts.cmd then
    merged.cmd = vim.deepcopy(opts.cmd)
  end
  if opts.filetypes then
    merged.filetypes = vim.deepcopy(opts.filetypes)
  end
  if opts.root_markers then
    merged.root_markers = vim.deepcopy(opts.root_markers)
  end
  if type(merged.cmd) ~= 'table' or type(merged.cmd[1]) ~= 'string' then
    error("typilot: `cmd` must be a list such as { 'typilot-lsp' }")
  end
  if type(merged.settings) ~= 'table' then
    error('typilot: `settings` must be a table such as { typilot = { ollama = { model = ... } } }')
  end
  merged.settings.typilot = merged.settings.typilot or {}
  if opts.progress == nil and opts.notify_progress ~= nil then
    merged.progress = opts.notify_progress
  end
  merged.notify_progress = nil
  M.options = merged
  return merged
end

--- The command without its serving flags, for `--version` and `doctor`.
---@param cmd string[]|nil  default: the `cmd` option
---@return string[]
function M.base_cmd(cmd)
  local base = {}
  for _, arg in ipairs(cmd or M.options.cmd) do
    if arg == '--stdio' or arg == 'serve' then
      break
    end
    table.insert(base, arg)
  end
  return base
end

return M

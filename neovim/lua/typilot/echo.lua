-- The message area, shared by the progress line and the server's messages: everything written
-- here is one line cut to 'v:echospace', so it never scrolls into a hit-enter prompt.
local M = {}

--- How long a server message keeps the message area before the progress line may take it back.
M.MESSAGE_HOLD_MS = 4000
--- Server messages (full text) kept for :Typilot log, oldest first.
M.MAX_LOG = 200

---@type { time: string, level: string, text: string }[]
local log = {}
--- Who drew the message area last: 'progress', 'message' or nil (nothing of ours).
local owner = nil
--- Until when (vim.uv.now()) a server message keeps the message area.
local held_until = 0
--- v:statusmsg, v:warningmsg and v:errmsg when we last drew: if one changed, someone else wrote.
local others = ''

local function others_now()
  return table.concat({ vim.v.statusmsg, vim.v.warningmsg, vim.v.errmsg }, '\n')
end

--- `text` on one line: runs of whitespace, newlines included, become one space.
---@param text string
---@return string
local function flatten(text)
  return vim.trim((text:gsub('%s+', ' ')))
end

--- `text` flattened to one line of at most `width` display cells, cut with "…".
---@param text string
---@param width integer
---@return string
function M.fit(text, width)
  local flat = flatten(text)
  if vim.fn.strdisplaywidth(flat) <= width then
    return flat
  end
  if width < 1 then
    return ''
  end
  local n = width - 1
  local cut = vim.fn.strcharpart(flat, 0, n)
  while n > 0 and vim.fn.strdisplaywidth(cut) > width - 1 do
    n = n - 1
    cut = vim.fn.strcharpart(flat, 0, n)
  end
  return cut .. '…'
end

--- The cells a message may take without scrolling the message area ('showcmd', 'ruler').
---@return integer
function M.room()
  return math.max(vim.v.echospace, 1)
end

--- Whether writing to the message area now would show: not while the user types a command
--- line, sits in a hit-enter or more prompt, or is in the middle of a mapping or operator.
---@return boolean
function M.can_draw()
  local mode = vim.api.nvim_get_mode()
  return not mode.blocking and not mode.mode:match('^[cr]')
end

--- Writes the progress line (not into :messages), unless a server message still holds the area.
---@param text string
---@return boolean drawn
function M.progress(text)
  if vim.uv.now() < held_until or not M.can_draw() then
    return false
  end
  vim.api.nvim_echo({ { M.fit(text, M.room()) } }, false, {})
  owner = 'progress'
  others = others_now()
  return true
end

--- Clears the progress line, if it is still what the message area shows.
function M.clear_progress()
  if owner ~= 'progress' then
    return
  end
  owner = nil
  if others_now() ~= others or not M.can_draw() then
    return
  end
  vim.api.nvim_echo({ { '' } }, false, {})
end

local LOG_HINT = ' (:Typilot log)'

local LEVELS = {
  [1] = { 'error', 'ErrorMsg' },
  [2] = { 'warning', 'WarningMsg' },
  [3] = { 'info', nil },
  [4] = { 'log', nil },
}

--- Shows a server message on one line (kept in :messages as shown) and keeps its full text for
--- :Typilot log. `Log` messages go to the log only.
---@param text string
---@param kind integer|nil  lsp.MessageType: 1 error, 2 warning, 3 info, 4 log
function M.message(text, kind)
  local level = LEVELS[kind] or LEVELS[3]
  local full = vim.trim(text)
  if not full:lower():find('^typilot') then
    full = 'Typilot: ' .. full
  end
  table.insert(log, { time = os.date('%H:%M:%S') --[[@as string]], level = level[1], text = full })
  if #log > M.MAX_LOG then
    table.remove(log, 1)
  end
  if level[1] == 'log' then
    return
  end
  local line = M.fit(full, M.room())
  if line ~= flatten(full) then
    -- Cut: say where the rest is, within the same width.
    line = M.fit(full, M.room() - vim.fn.strdisplaywidth(LOG_HINT)) .. LOG_HINT
  end
  vim.api.nvim_echo({ { line, level[2] } }, true, {})
  owner = 'message'
  held_until = vim.uv.now() + M.MESSAGE_HOLD_MS
end

--- The server messages of this session, full text, oldest first.
---@return { time: string, level: string, text: string }[]
function M.log()
  return vim.deepcopy(log)
end

--- window/showMessage of the Typilot client: every message fits on one line, whatever its length.
---@param params lsp.ShowMessageParams
function M.show_message_handler(_, params, _)
  if type(params) == 'table' and type(params.message) == 'string' then
    M.message(params.message, params.type)
  end
  return vim.NIL
end

return M

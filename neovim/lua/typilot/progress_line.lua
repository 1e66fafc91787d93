-- The progress line (option `progress`, on by default): what runs, on which model, how far it
-- is and how to stop it, in the message area; updated in place while a job runs (every report,
-- and every second for the elapsed time) and cleared when the last job ends.
local config = require('typilot.config')
local echo = require('typilot.echo')

local M = {}

M.TICK_MS = 1000
local VOICE_TITLE = 'Typilot voice'
local WAITING = 'waiting for the model'
local SEP = ' · '
--- Below this many cells an instruction or title is not worth showing cut.
local MIN_PART = 12

---@type uv.uv_timer_t|nil
local timer = nil

local width = vim.fn.strdisplaywidth

--- The seconds since the job began, for the status: ", 3 s" (nothing in the first second).
---@param job typilot.Job
---@return string
local function elapsed(job)
  local secs = math.floor((vim.uv.now() - job.started) / 1000)
  return secs >= 1 and (', %d s'):format(secs) or ''
end

--- The line for the latest of `jobs` (as require('typilot').progress() lists them, oldest
--- first), at most `room` cells. Parts go in this order when it is too long: the instruction
--- (cut, then left out), the elapsed seconds, then the title is cut.
---@param jobs typilot.Job[]
---@param room integer
---@return string
function M.format(jobs, room)
  local job = jobs[#jobs]
  if not job then
    return ''
  end
  local voice = job.title == VOICE_TITLE
  local head = job.title .. (#jobs > 1 and (' (+%d)'):format(#jobs - 1) or '')
  local state = job.status or (voice and job.detail) or WAITING
  local hint = SEP .. (voice and ':Typilot voice to stop' or ':Typilot cancel')
  local tail = SEP .. state .. elapsed(job) .. hint
  local detail = not voice and vim.trim(job.detail or '') or ''
  local left = room - width(head) - width(tail) - width(SEP)
  if detail ~= '' and left >= MIN_PART then
    return head .. SEP .. echo.fit(detail, left) .. tail
  end
  if width(head .. tail) > room then
    tail = SEP .. state .. hint
  end
  left = room - width(tail)
  if width(head) > left and left >= MIN_PART then
    head = echo.fit(head, left)
  end
  return echo.fit(head .. tail, room)
end

local function stop_timer()
  if timer then
    timer:stop()
    timer:close()
    timer = nil
  end
end

--- Draws the line for the running jobs, or clears it when none is left.
function M.refresh()
  local typilot = require('typilot')
  if timer and #vim.lsp.get_clients({ name = config.name }) == 0 then
    -- The server stopped or crashed: no end will come for its jobs.
    typilot._clear_progress()
  end
  local jobs = typilot.progress()
  if #jobs == 0 then
    stop_timer()
    echo.clear_progress()
    return
  end
  echo.progress(M.format(jobs, echo.room()))
  if not timer then
    timer = assert(vim.uv.new_timer())
    timer:start(M.TICK_MS, M.TICK_MS, vim.schedule_wrap(M.refresh))
  end
end

--- Whether the line is being kept up to date (a job runs).
---@return boolean
function M.active()
  return timer ~= nil
end

return M

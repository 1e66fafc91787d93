-- The editor half of scripts/demo.sh: a real, headless Neovim session with the Typilot plugin.
--
--   nvim --clean --headless -l scripts/demo_session.lua PLUGIN_DIR SERVER SETTINGS_JSON FILE
--
-- Opens FILE, lets the plugin start `SERVER` (typilot-lsp over stdio, with the `typilot`
-- settings SETTINGS_JSON), then for each of gen:, fix: and sum: puts the cursor on the prefixed
-- line and applies the `Typilot: ...` code action exactly as `gra` would and waits for the run's
-- progress to end. Then one `u` takes the last run back (and `redo` puts it back), and a long
-- `gen:` added at the end is cancelled mid-stream and undone. Finally it writes the buffer.
-- Exit status 1 if a step did not work.
local plugin_dir, server, settings_json, file = arg[1], arg[2], arg[3], arg[4]
if not file then
  io.stderr:write('usage: nvim --clean --headless -l demo_session.lua PLUGIN SERVER SETTINGS FILE\n')
  os.exit(2)
end

local function say(text)
  io.stdout:write(text .. '\n')
  io.stdout:flush()
end

-- Messages from the server (window/showMessage) and the plugin go to the terminal.
vim.notify = function(msg, level)
  local tag = (level or 0) >= vim.log.levels.ERROR and 'error'
    or (level or 0) >= vim.log.levels.WARN and 'warning'
    or 'note'
  say(('    [%s] %s'):format(tag, msg))
end

vim.opt.runtimepath:prepend(plugin_dir)
vim.cmd('filetype plugin indent on')

-- Count the ends of Typilot runs' progress, with their final message.
local ended = {}
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function(ev)
    local value = ev.data and ev.data.params and ev.data.params.value
    if type(value) == 'table' and value.kind == 'end' then
      table.insert(ended, value.message or 'done')
    end
  end,
})

require('typilot').setup({
  cmd = { server },
  settings = { typilot = vim.json.decode(settings_json) },
})

vim.cmd.edit(vim.fn.fnameescape(file))
local attached = vim.wait(30000, function()
  local client = require('typilot.lsp').get_client(0)
  return client ~= nil and client.initialized and client.server_capabilities ~= nil
end, 20)
if not attached then
  say('    [error] typilot-lsp did not start within 30 s; see ' .. vim.lsp.get_log_path())
  os.exit(1)
end
local client = require('typilot.lsp').get_client(0)
say(('  Neovim %s attached %s (server %s, over stdio)'):format(
  tostring(vim.version()),
  vim.fs.basename(server),
  client.server_info and client.server_info.version or '?'
))

--- The first line (0-based) of the buffer that carries `prefix`.
local function find_line(prefix)
  for number, line in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
    if line:find('# ' .. prefix, 1, true) then
      return number - 1
    end
  end
end

local failures = 0
for _, command in ipairs({ 'gen', 'fix', 'sum' }) do
  local line = find_line(command .. ':')
  if not line then
    say(('  %s: no `%s:` line in the file, skipped'):format(command, command))
  else
    vim.api.nvim_win_set_cursor(0, { line + 1, 0 })
    local title = vim.trim(vim.api.nvim_get_current_line())
    say(('  line %d  %s'):format(line + 1, title))
    local before = #ended
    local started = vim.uv.hrtime()
    vim.lsp.buf.code_action({
      apply = true,
      filter = function(action)
        return vim.startswith(action.title, 'Typilot: ' .. command)
      end,
    })
    local done = vim.wait(120000, function()
      return #ended > before
    end, 20)
    local seconds = (vim.uv.hrtime() - started) / 1e9
    if not done then
      failures = failures + 1
      say(('    -> no result after %.0f s'):format(seconds))
    else
      local outcome = ended[#ended]
      if outcome ~= 'done' then
        failures = failures + 1
      end
      local ids = require('typilot.lsp').run_ids()
      local stats = ids[#ids] and require('typilot.lsp').run_stats(ids[#ids]) or nil
      local edits = stats and (', %d streamed edits'):format(stats.applied) or ''
      say(('    -> %s in %.1f s%s'):format(outcome, seconds, edits))
    end
  end
end

local function buffer_lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

-- Undo: the last run (sum:) was one undo step, whatever it wrote.
local done_text = buffer_lines()
vim.cmd('silent normal! u')
local sum_back = find_line('sum:') ~= nil
vim.cmd('silent redo')
if sum_back and vim.deep_equal(buffer_lines(), done_text) then
  say('  undo     one `u` brings back the `# sum:` line as it was; `redo` puts the summary back')
else
  failures = failures + 1
  say('  undo     [error] one `u` did not take back the sum: run')
end

-- Cancel: a long gen: at the end of the file, cancelled once its first lines have streamed.
local long_run = '# gen: a dictionary CAPITALS mapping each of the 50 US states to its capital city'
vim.api.nvim_buf_set_lines(0, -1, -1, false, { '', long_run })
local before_cancel = buffer_lines()
vim.api.nvim_win_set_cursor(0, { #before_cancel, 0 })
local runs_before = #require('typilot.lsp').run_ids()
local ends_before = #ended
vim.lsp.buf.code_action({
  apply = true,
  filter = function(action)
    return vim.startswith(action.title, 'Typilot: gen')
  end,
})
local streaming = vim.wait(60000, function()
  local ids = require('typilot.lsp').run_ids()
  local stats = #ids > runs_before and require('typilot.lsp').run_stats(ids[#ids]) or nil
  return (stats and stats.applied >= 2) or #ended > ends_before
end, 10)
if not streaming then
  failures = failures + 1
  say('  cancel   [error] the long run did not start streaming within 60 s')
elseif #ended > ends_before then
  say(('  cancel   the long run ended (%s) before it could be cancelled'):format(ended[#ended]))
else
  local streamed = #buffer_lines() - #before_cancel + 1
  require('typilot').cancel()
  vim.wait(30000, function()
    return #ended > ends_before
  end, 10)
  say(('  cancel   `:Typilot cancel` after %d streamed lines: the run %s, what streamed stays'):format(
    streamed,
    ended[#ended] or 'did not end'
  ))
  if ended[#ended] ~= 'cancelled' then
    failures = failures + 1
  end
end
-- ...and one `u` takes back the cancelled run too; the added lines go, the file is as before.
vim.cmd('silent normal! u')
if vim.deep_equal(buffer_lines(), before_cancel) then
  say('  undo     one `u` takes back the cancelled run: the `# gen:` line is back')
else
  failures = failures + 1
  say('  undo     [error] one `u` did not take back the cancelled run')
end
vim.api.nvim_buf_set_lines(0, #before_cancel - 2, -1, false, {})

vim.cmd('silent write')
vim.lsp.stop_client(vim.lsp.get_clients({ name = 'typilot' }))
vim.wait(3000, function()
  return #vim.lsp.get_clients({ name = 'typilot' }) == 0
end, 20)
os.exit(failures == 0 and 0 or 1)

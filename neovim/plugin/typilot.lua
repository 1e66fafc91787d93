-- :Typilot {cancel|voice|history|purge|start|log} and progress tracking. Nothing starts until
-- require('typilot').setup().
if vim.g.loaded_typilot then
  return
end
vim.g.loaded_typilot = true

local subcommands = {
  cancel = function(args)
    require('typilot').cancel(args.bang or args.rest == 'all')
  end,
  voice = function()
    require('typilot').voice()
  end,
  history = function(args)
    require('typilot').history(tonumber(args.rest))
  end,
  purge = function(args)
    require('typilot').purge(args.bang)
  end,
  start = function()
    require('typilot').start()
  end,
  log = function()
    require('typilot').log()
  end,
}

vim.api.nvim_create_user_command('Typilot', function(opts)
  local name, rest = opts.args:match('^%s*(%S*)%s*(.-)%s*$')
  local fn = subcommands[name]
  if not fn then
    vim.notify(
      ('Typilot: unknown subcommand %q; use one of: %s'):format(
        name,
        table.concat(vim.tbl_keys(subcommands), ', ')
      ),
      vim.log.levels.ERROR
    )
    return
  end
  fn({ bang = opts.bang, rest = rest })
end, {
  nargs = '+',
  bang = true,
  desc = 'Typilot: cancel | voice | history | purge | start | log',
  complete = function(arglead, cmdline)
    if cmdline:match('^%S+%s+%S+%s') then
      return {}
    end
    local names = vim.tbl_keys(subcommands)
    table.sort(names)
    return vim.tbl_filter(function(n)
      return vim.startswith(n, arglead)
    end, names)
  end,
})

-- Progress for the statusline, whichever way the client was started.
local group = vim.api.nvim_create_augroup('typilot', { clear = true })
local function is_typilot(ev)
  local client = ev.data and vim.lsp.get_client_by_id(ev.data.client_id)
  return client ~= nil and client.name == 'typilot'
end
vim.api.nvim_create_autocmd('LspProgress', {
  group = group,
  callback = function(ev)
    if is_typilot(ev) then
      require('typilot')._on_progress(ev)
    end
  end,
})
vim.api.nvim_create_autocmd('LspDetach', {
  group = group,
  callback = function(ev)
    if is_typilot(ev) then
      require('typilot')._on_detach(ev.buf)
    end
  end,
})

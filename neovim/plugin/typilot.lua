-- :Typilot {cancel|voice|history|purge|start}. Nothing starts until require('typilot').setup().
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
  desc = 'Typilot: cancel | voice | history | purge | start',
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

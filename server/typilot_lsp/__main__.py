from typilot_lsp.cli import main

raise SystemExit(main())

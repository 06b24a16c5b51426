from syncworker.cli.main import main

raise SystemExit(main())

"""lanmsg command line (the subcommands arrive with the messenger and discovery)."""

import sys


def main(argv=None) -> int:
    import mailslot
    return mailslot.main(argv)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m visionloss`` runs the command line."""

if __name__ == "__main__":
    import sys

    from visionloss.cli.main import main

    sys.exit(main())

"""Headless subcommands: each module registers its parsers; all call services only."""

"""``python -m r2bench`` (and ``torchrun -m r2bench``): the ``r2bench`` command."""

from r2bench.cli import main

if __name__ == "__main__":
    main()

"""``python -m spacemesh_plugins.poet_builtin <prove|verify|serve> ...``: the poet commands without the kernel."""

from spacemesh_plugins.poet_builtin.cli import get_poet_group

if __name__ == "__main__":
    get_poet_group()(prog_name="spacemesh poet")

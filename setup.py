"""The build's one hook (the rest is pyproject.toml): the sdist carries the man pages man/lanmsg.1
and man/mailslot.1, written at build time from the command-line parsers by scripts/manpage.py, so
they always say what --help says (nothing generated is kept in the repository)."""

import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.sdist import sdist


class SdistWithManPages(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "manpage.py")
        subprocess.run([sys.executable, script, os.path.join(base_dir, "man")], check=True)


setup(cmdclass={"sdist": SdistWithManPages})

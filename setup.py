"""Only the optional C extension; everything else is in pyproject.toml.

The extension is the native fast path of faker rules (datacloner/masking/fast.py).
It is optional: without a C compiler the install still succeeds and the same
outputs come from pure Python, only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "datacloner.masking._fastdraw",
            ["datacloner/masking/_fastdraw.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)

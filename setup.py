"""Only the optional C extensions; everything else is in pyproject.toml.

They are the native fast paths of faker rules (datacloner/masking/fast.py), of
json rules (datacloner/masking/_jsonscan.c: may orjson parse it?), of the email
and number detectors (datacloner/detect/detectors.py) and of the COPY text codec
(datacloner/engines/postgres/copytext.py). All are optional: without a C
compiler the install still succeeds and the same outputs come from pure
Python, only slower. datacloner/core/native.py is the one place that loads
them; docs/performance.md ("Native code") says what each buys.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "datacloner.masking._fastdraw",
            ["datacloner/masking/_fastdraw.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "datacloner.masking._jsonscan",
            ["datacloner/masking/_jsonscan.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "datacloner.detect._detectnative",
            ["datacloner/detect/_detectnative.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "datacloner.engines.postgres._copynative",
            ["datacloner/engines/postgres/_copynative.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)

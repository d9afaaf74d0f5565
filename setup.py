"""Builds the Cython twins `fastvrrp._wire`, `fastvrrp._mmsg` and `fastvrrp._repeats`; FASTVRRP_NO_EXTENSIONS=1 installs pure Python only."""

import os

from setuptools import Extension, setup

NO_EXTENSIONS = bool(os.environ.get("FASTVRRP_NO_EXTENSIONS"))
DEBUG = bool(os.environ.get("FASTVRRP_DEBUG_BUILD"))
SANITIZE = bool(os.environ.get("FASTVRRP_ASAN"))


def extensions():
    if NO_EXTENSIONS:
        return []
    from Cython.Build import cythonize

    macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []
    cflags = ["-O3"] if not (DEBUG or SANITIZE) else ["-O1", "-g"]
    ldflags = []
    if SANITIZE:
        cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        ldflags += ["-fsanitize=address,undefined"]
    ext = Extension(
        "fastvrrp._wire",
        ["fastvrrp/_wire.pyx"],
        define_macros=macros,
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )
    mmsg = Extension(
        "fastvrrp._mmsg",
        ["fastvrrp/_mmsg.pyx"],
        define_macros=macros + [("_GNU_SOURCE", None)],  # sendmmsg(2)
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )
    repeats = Extension(
        "fastvrrp._repeats",
        ["fastvrrp/_repeats.pyx"],
        define_macros=macros,
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )
    directives = {"language_level": "3", "embedsignature": True}
    if DEBUG:
        directives["linetrace"] = True
    return cythonize([ext, mmsg, repeats], compiler_directives=directives, annotate=DEBUG)


setup(ext_modules=extensions())

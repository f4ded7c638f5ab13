# For pip versions and setuptools that still want a setup.py beside pyproject.toml; every
# setting is in pyproject.toml.
from setuptools import setup

setup()

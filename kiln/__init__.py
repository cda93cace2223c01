"""Kiln: a self-hosted EC2 Image Builder that speaks the AWS API and really builds images."""

__version__ = "0.1.0"

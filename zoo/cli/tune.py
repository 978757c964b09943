"""Placeholder for `zoo tune` until it is built."""


def add_parser(sub, name):
    p = sub.add_parser(name, help="(not built yet)")
    p.set_defaults(func=lambda args: 1)

"""Upstream protobuf asks WORKSPACEs to call protobuf_deps(); the system build needs nothing."""

def protobuf_deps():
    pass

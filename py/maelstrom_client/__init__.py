"""Run jobs, each in its own container, locally or on a cluster, from Python: a `Client` starts
maelstrom-client and talks to it over the client API (proto/items.proto)."""
from .client import Client, Outcome, find_binary, outcome_of
from .items_pb2 import (
    AddContainerRequest,
    BindMount,
    CommandLayer,
    ContainerParent,
    ContainerRef,
    ContainerSpec,
    ContainerUse,
    DevicesMount,
    Duration,
    EnvironmentSpec,
    GlobLayer,
    ImageRef,
    ImageUse,
    JobDevice,
    JobMount,
    JobNetwork,
    JobSpec,
    JobStatus,
    LayerSpec,
    PathsLayer,
    PrefixOptions,
    ProcMount,
    SharedLibraryDependenciesLayer,
    StubsLayer,
    SymlinkSpec,
    SymlinksLayer,
    SysMount,
    TarLayer,
    TmpMount,
)

__all__ = [name for name in dir() if not name.startswith("_")]

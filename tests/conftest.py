"""Fixtures shared by the test modules."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: tiny networks run fastest so, and torch's thread
    pool slows down badly when the CI machine is oversubscribed. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)

"""Unit tests of the pure-torch building blocks in moeids.moe."""

import pickle

import pytest
import torch

from moeids.moe import (
    FeatureTokenizer,
    FTTransformer,
    Gate,
    MFMHead,
    MoENetwork,
    TemporalCNN,
    mfm_loss,
)

NAN = float("nan")


@pytest.fixture(autouse=True)
def _seed_one_thread():
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, even on a busy CI box
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield
    torch.set_num_threads(n_threads)


def test_tokenizer_shapes_and_mask_token():
    tok = FeatureTokenizer(n_num=3, cat_cardinalities=[4, 2], d_token=8)
    x_num = torch.randn(5, 3)
    x_cat = torch.randint(0, 2, (5, 2))
    missing = torch.zeros(5, 5, dtype=torch.bool)
    missing[0, 1] = missing[1, 3] = True
    tokens = tok(x_num, x_cat, missing)
    assert tokens.shape == (5, 6, 8)
    assert torch.equal(tokens[:, 0], tok.cls.expand(5, -1))
    # a missing feature is [MASK] + that feature's bias
    torch.testing.assert_close(tokens[0, 2], tok.mask + tok.bias[1])
    torch.testing.assert_close(tokens[1, 4], tok.mask + tok.bias[3])
    # the bias differs per feature, so two masked features give different tokens
    assert not torch.allclose(tok.mask + tok.bias[1], tok.mask + tok.bias[3])


@pytest.mark.parametrize("embedding", ["linear", "periodic", "piecewise_linear"])
def test_masked_value_cannot_change_tokens_or_gradients(embedding):
    tok = FeatureTokenizer(n_num=2, cat_cardinalities=[3], d_token=4, numeric_embedding=embedding)
    missing = torch.tensor([[True, False, True]])
    a = tok(torch.tensor([[NAN, 1.0]]), torch.tensor([[2]]), missing)
    b = tok(torch.tensor([[1e9, 1.0]]), torch.tensor([[0]]), missing)
    assert torch.equal(a, b)
    a.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in tok.parameters() if p.grad is not None)


def test_periodic_tokens_differ_per_value_and_reject_unknown_kind():
    tok = FeatureTokenizer(n_num=1, cat_cardinalities=[], d_token=8, numeric_embedding="periodic")
    present = torch.zeros(2, 1, dtype=torch.bool)
    tokens = tok(torch.tensor([[0.5], [2.0]]), torch.zeros(2, 0, dtype=torch.long), present)
    assert tokens.shape == (2, 2, 8)
    assert not torch.allclose(tokens[0, 1], tokens[1, 1])
    with pytest.raises(ValueError, match="numeric_embedding"):
        FeatureTokenizer(1, [], 8, numeric_embedding="spline")


def test_piecewise_linear_bins_from_quantiles_and_encoding():
    tok = FeatureTokenizer(
        n_num=2, cat_cardinalities=[], d_token=4, numeric_embedding="piecewise_linear", n_bins=4
    )
    x = torch.stack([torch.arange(9.0), torch.tensor([0.0] * 7 + [1.0, NAN])], dim=1)
    tok.set_bin_edges(x)
    # feature 0: quantiles 0, 2, 4, 6, 8; feature 1 (NaN ignored): edges 0 and 1 only,
    # the last edge repeated so its three extra bins are empty
    torch.testing.assert_close(tok.bin_edges[0], torch.tensor([0.0, 2, 4, 6, 8]))
    torch.testing.assert_close(tok.bin_edges[1], torch.tensor([0.0, 1, 1, 1, 1]))
    with torch.no_grad():  # identity bin weights: the projection is the encoding itself
        tok.num_weight.copy_(torch.eye(4).expand(2, 4, 4))
    encoded = tok._piecewise_linear(torch.tensor([[5.0, 0.5], [-2.0, 3.0], [9.0, 0.0]]))
    # bins left of the value are 1, its own bin holds the fraction, bins right are 0;
    # the first bin extends below the range and the last non-empty one above it
    torch.testing.assert_close(encoded[0, 0], torch.tensor([1.0, 1, 0.5, 0]))
    torch.testing.assert_close(encoded[0, 1], torch.tensor([0.5, 0, 0, 0]))
    torch.testing.assert_close(encoded[1, 0], torch.tensor([-1.0, 0, 0, 0]))
    torch.testing.assert_close(encoded[1, 1], torch.tensor([3.0, 0, 0, 0]))
    torch.testing.assert_close(encoded[2, 0], torch.tensor([1.0, 1, 1, 1.5]))
    torch.testing.assert_close(encoded[2, 1], torch.tensor([0.0, 0, 0, 0]))


def test_network_sets_piecewise_linear_bins_in_fit_scaling():
    net = MoENetwork(
        [0, 1], [], [], [2], n_classes=2, d_model=8, n_heads=2, numeric_embedding="piecewise_linear"
    )
    before = net.experts["tabular"].tokenizer.bin_edges.clone()
    x = torch.randn(100, 3) * 10
    net.fit_scaling(x)
    edges = net.experts["tabular"].tokenizer.bin_edges
    assert not torch.equal(edges, before)
    scaled = net.scaled(x)[:, :2]
    torch.testing.assert_close(edges[:, 0], scaled.min(0).values)
    torch.testing.assert_close(edges[:, -1], scaled.max(0).values)


@pytest.mark.parametrize("n_layers", [1, 2])
def test_ft_transformer_cls_only_matches_full_encode(n_layers):
    model = FTTransformer(4, [3], d_model=8, n_layers=n_layers, n_heads=2, dropout=0.0).eval()
    x_num, x_cat = torch.randn(6, 4), torch.randint(0, 3, (6, 1))
    missing = torch.rand(6, 5) < 0.3
    cls = model(x_num, x_cat, missing)
    assert cls.shape == (6, 8)
    torch.testing.assert_close(cls, model.encode(x_num, x_cat, missing)[:, 0])


def test_temporal_cnn_shapes_and_availability():
    cnn = TemporalCNN(n_features=5, d_model=8).eval()
    x = torch.randn(3, 5)
    missing = torch.zeros(3, 5, dtype=torch.bool)
    assert cnn(x, missing).shape == (3, 8)
    # missing differs from a present zero, and a missing value's content is ignored
    zero = x.clone()
    zero[:, 2] = 0.0
    absent = x.clone()
    absent[:, 2] = NAN
    flagged = missing.clone()
    flagged[:, 2] = True
    assert not torch.allclose(cnn(zero, missing), cnn(absent, flagged))
    torch.testing.assert_close(cnn(absent, flagged), cnn(x, flagged))


def test_gate_weights_softmax_and_absent_expert():
    gate = Gate(d_model=4, n_experts=2, temperature=0.5).eval()
    emb = torch.randn(4, 2, 4)
    present = torch.tensor([[1.0, 1.0], [0.5, 0.0], [0.0, 0.2], [0.0, 0.0]])
    w = gate(emb, present)
    assert w.shape == (4, 2)
    torch.testing.assert_close(w[:3].sum(1), torch.ones(3))
    assert (w[0] > 0).all()
    assert w[1, 1] == 0 and w[1, 0] == 1
    assert w[2, 0] == 0 and w[2, 1] == 1
    assert torch.equal(w[3], torch.zeros(2))


def test_gate_temperature_sharpens():
    soft = Gate(d_model=4, n_experts=2, temperature=10.0).eval()
    sharp = Gate(d_model=4, n_experts=2, temperature=0.1).eval()
    sharp.load_state_dict(soft.state_dict())
    emb, present = torch.randn(50, 2, 4), torch.ones(50, 2)
    spread = (soft(emb, present) - 0.5).abs().mean()
    assert (sharp(emb, present) - 0.5).abs().mean() > spread


def test_sparse_gate_is_one_hot_with_gradient():
    gate = Gate(d_model=4, n_experts=2, sparse=True)
    emb = torch.randn(8, 2, 4, requires_grad=True)
    present = torch.ones(8, 2)
    gate.eval()
    w = gate(emb, present)
    assert set(w.flatten().tolist()) <= {0.0, 1.0}
    assert torch.equal(w.sum(1), torch.ones(8))
    gate.train()
    w = gate(emb, present)
    (w[:, 0] * torch.arange(8.0)).sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0


def test_mfm_loss_targets_only_present_features():
    encoder = FTTransformer(3, [4], d_model=8, n_layers=1, n_heads=2, dropout=0.0)
    head = MFMHead(3, [4], d_model=8)
    x_num, x_cat = torch.randn(16, 3), torch.randint(0, 4, (16, 1))
    num, cat = head(encoder.encode(x_num, x_cat, torch.zeros(16, 4, dtype=torch.bool)))
    assert num.shape == (16, 3) and cat[0].shape == (16, 4)
    all_missing = torch.ones(16, 4, dtype=torch.bool)
    assert mfm_loss(encoder, head, x_num, x_cat, all_missing, 0.5) is None  # nothing to learn
    loss = mfm_loss(encoder, head, x_num, x_cat, ~all_missing, 0.5)
    assert loss.item() > 0
    loss.backward()
    assert encoder.tokenizer.num_weight.grad.abs().sum() > 0
    # only the present feature can be the target: a target with NaN would give NaN
    one_present = all_missing.clone()
    one_present[3, 1] = False
    nan_num = torch.where(one_present[:, :3], float("nan"), x_num)
    loss = mfm_loss(encoder, head, nan_num, x_cat, one_present, 0.999)
    assert torch.isfinite(loss) and loss.item() > 0


def test_mfm_loss_masks_at_least_one_present_feature():
    """A small batch whose draws all miss the ratio still has a target (issue 24: a
    constant zero loss made the backward pass fail)."""
    encoder = FTTransformer(3, [], d_model=8, n_layers=1, n_heads=2, dropout=0.0)
    head = MFMHead(3, [], d_model=8)
    x_num, x_cat = torch.randn(1, 3), torch.zeros(1, 0, dtype=torch.long)
    present = torch.zeros(1, 3, dtype=torch.bool)
    for seed in range(5):
        fixed = torch.Generator().manual_seed(seed)
        loss = mfm_loss(encoder, head, x_num, x_cat, present, 1e-6, generator=fixed)
        assert loss.requires_grad
        loss.backward()


def _network(**kwargs):
    # columns: 0-1 numeric tabular, 2 categorical (3 codes), 3-5 temporal
    return MoENetwork(
        [0, 1],
        [2],
        [3],
        [3, 4, 5],
        n_classes=3,
        d_model=8,
        n_layers=1,
        n_heads=2,
        dropout=0.0,
        **kwargs,
    ).eval()


def _batch(n=10):
    x = torch.randn(n, 6) * 100
    x[:, 2] = torch.randint(0, 3, (n,)).float()
    return x


def test_network_shapes_scaling_and_unseen_codes():
    net = _network()
    x = _batch(200)
    net.fit_scaling(x)
    scaled = net.scaled(x)
    torch.testing.assert_close(scaled.mean(0), torch.zeros(5), atol=1e-4, rtol=0)
    logits, weights = net(x[:7])
    assert logits.shape == (7, 3) and weights.shape == (7, 2)
    unseen = x[:7].clone()
    unseen[:, 2] = 17.0  # above the cardinality: read as code 0 (unknown)
    zero = x[:7].clone()
    zero[:, 2] = 0.0
    torch.testing.assert_close(net(unseen)[0], net(zero)[0])


def test_network_missing_value_gives_finite_outputs_and_gradients():
    net = _network()
    x = _batch()
    net.fit_scaling(x)
    for column in range(6):
        a = x.clone()
        a[:, column] = NAN
        net.zero_grad()
        logits = net(a)[0]
        assert torch.isfinite(logits).all()  # NaN never reaches the arithmetic
        logits.sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
        # and missing is not the same as any value
        c = x.clone()
        c[:, column] = 0.0
        assert not torch.allclose(logits, net(c)[0])


def test_network_scaling_is_the_shared_log_standardisation():
    from moeids._numeric import signed_log1p, standard_statistics

    net = _network()
    x = _batch(50)
    x[:, 4] = 7.3  # constant: scale 1, not the rounding error of its mean
    x[::3, 0] = NAN
    net.fit_scaling(x)
    center, scale = standard_statistics(signed_log1p(x[:, [0, 1, 3, 4, 5]].double().numpy()))
    torch.testing.assert_close(net.loc, torch.from_numpy(center).float())
    torch.testing.assert_close(net.scale, torch.from_numpy(scale).float())
    assert net.scale[3] == 1.0
    assert net.scaled(x)[:, 3].abs().max() < 1e-5


def test_network_huge_categorical_code_reads_as_unknown():
    net = _network()
    x = _batch()
    net.fit_scaling(x)
    huge, zero = x.clone(), x.clone()
    huge[:, 2] = 1e30  # overflows a cast to long
    zero[:, 2] = 0.0
    assert torch.equal(net.split_inputs(huge)["x_cat"], net.split_inputs(zero)["x_cat"])
    torch.testing.assert_close(net(huge)[0], net(zero)[0])


def test_network_expert_without_input_gets_zero_weight():
    net = _network()
    x = _batch()
    net.fit_scaling(x)
    no_temporal = x.clone()
    no_temporal[:, 3:] = NAN
    w = net(no_temporal)[1]
    assert torch.equal(w[:, 1], torch.zeros(len(x))) and torch.equal(w[:, 0], torch.ones(len(x)))
    no_tabular = x.clone()
    no_tabular[:, :3] = NAN
    w = net(no_tabular)[1]
    assert torch.equal(w[:, 0], torch.zeros(len(x)))


def test_network_single_expert_and_all_missing_rows():
    net = MoENetwork([0, 1, 2], [], [], [], n_classes=2, d_model=8, n_layers=1, n_heads=2)
    assert net.expert_names == ["tabular"]
    x = torch.randn(4, 3)
    x[0] = NAN
    logits, w = net.eval()(x)
    assert torch.isfinite(logits).all()
    assert w[0, 0] == 0 and torch.equal(w[1:, 0], torch.ones(3))
    with pytest.raises(ValueError, match="at least one input column"):
        MoENetwork([], [], [], [], n_classes=2)


def _dense_piecewise_linear(tok, x):
    """The piecewise-linear encoding written out bin by bin: (batch, n_num, n_bins)."""
    left, right = tok.bin_edges[:, :-1], tok.bin_edges[:, 1:]
    width = right - left
    filled = width > 0
    position = (x.unsqueeze(-1) - left) / torch.where(filled, width, 1.0)
    last = torch.arange(width.shape[1]) == (filled.sum(1, keepdim=True) - 1).clamp(min=0)
    low = torch.full_like(width, 0.0)
    low[:, 0] = -torch.inf
    high = torch.where(last, torch.inf, 1.0)
    return torch.where(filled, torch.clamp(position, low, high), 0.0)


def test_piecewise_linear_tokens_equal_dense_encoding_times_bin_weights():
    tok = FeatureTokenizer(5, [], 6, numeric_embedding="piecewise_linear", n_bins=8)
    train = torch.randn(200, 5)
    train[:, 1] = 2.0  # one value: no filled bin
    train[:, 2] = NAN  # never seen: the initial edges stay
    train[:, 3] = torch.randint(0, 3, (200,)).float()  # few distinct values: empty bins
    tok.set_bin_edges(train)
    x = torch.cat([torch.randn(100, 5) * 3, tok.bin_edges[:, :].T, torch.full((1, 5), 1e4)])
    dense = torch.einsum("bfk,fkd->bfd", _dense_piecewise_linear(tok, x), tok.num_weight)
    torch.testing.assert_close(tok._piecewise_linear(x), dense, rtol=1e-5, atol=1e-4)


def test_fused_inference_kernels_give_the_autograd_path_results():
    """Under no_grad the blocks use the fused oneDNN linear kernels (bias, ReLU and the
    residual in one pass) for inputs of MIN_FUSED_ROWS rows (flows x tokens) or more; with
    gradients on, or for fewer rows, the plain torch composition runs."""
    from moeids.moe._kernels import MIN_FUSED_ROWS, fusable

    torch.manual_seed(0)
    encoder = FTTransformer(5, [4, 3], d_model=16, n_layers=2, n_heads=2, dropout=0.0).eval()
    n = MIN_FUSED_ROWS // 8 + 1  # 8 tokens: [CLS] and 7 features
    x_num, x_cat = torch.randn(n, 5), torch.randint(0, 3, (n, 2))
    missing = torch.rand(n, 7) < 0.3
    with_grad = encoder(x_num, x_cat, missing)
    with torch.no_grad():
        assert fusable(torch.zeros(n, 8, 16)) == torch.backends.mkldnn.is_available()
        assert not fusable(torch.zeros(n // 2, 8, 16))
        fused = encoder(x_num, x_cat, missing)
        tokens = encoder.encode(x_num, x_cat, missing)
    torch.testing.assert_close(fused, with_grad.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        tokens, encoder.encode(x_num, x_cat, missing).detach(), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("embedding", ["linear", "periodic", "piecewise_linear"])
def test_tokens_are_embedding_plus_bias_and_mask_plus_bias_for_missing(embedding):
    tok = FeatureTokenizer(3, [4], d_token=8, numeric_embedding=embedding)
    x_num, x_cat = torch.randn(16, 3), torch.randint(0, 4, (16, 1))
    missing = torch.rand(16, 4) < 0.3
    x_num = torch.where(missing[:, :3], NAN, x_num)
    tokens = tok(x_num, x_cat, missing)
    x = torch.where(missing[:, :3], 0.0, x_num)
    if embedding == "linear":
        numeric = x.unsqueeze(-1) * tok.num_weight
    elif embedding == "piecewise_linear":
        numeric = torch.relu(tok._piecewise_linear(x))
    else:
        angles = 2 * torch.pi * x.unsqueeze(-1) * tok.frequencies
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        numeric = torch.relu(torch.einsum("bfk,fkd->bfd", periodic, tok.num_weight))
    values = torch.cat([numeric, tok.cat_embeddings(x_cat + tok.cat_offsets)], dim=1)
    expected = torch.where(missing.unsqueeze(-1), tok.mask, values) + tok.bias
    torch.testing.assert_close(tokens[:, 0], tok.cls.expand(16, -1), rtol=0, atol=0)
    torch.testing.assert_close(tokens[:, 1:], expected, rtol=0, atol=1e-6)


def test_piecewise_linear_inference_follows_in_place_updates_of_weights_and_edges():
    tok = FeatureTokenizer(3, [], 4, numeric_embedding="piecewise_linear", n_bins=4)
    x = torch.tensor([[0.3, -1.0, 2.5], [1.7, 0.0, -0.2]])

    def fresh():  # computed from scratch, gradient recorded: nothing remembered
        with torch.enable_grad():
            return tok._piecewise_linear(x).detach()

    with torch.no_grad():
        first = tok._piecewise_linear(x)
        torch.testing.assert_close(tok._piecewise_linear(x), first, rtol=0, atol=0)
        tok.num_weight.mul_(2.0)  # an optimiser step or load_state_dict: in place
        torch.testing.assert_close(tok._piecewise_linear(x), fresh(), rtol=0, atol=0)
        assert not torch.equal(tok._piecewise_linear(x), first)
        tok.set_bin_edges(torch.randn(50, 3))
        torch.testing.assert_close(tok._piecewise_linear(x), fresh(), rtol=0, atol=0)
    restored = pickle.loads(pickle.dumps(tok))
    assert not hasattr(restored, "_inference_bins")  # derived tensors are not stored
    with torch.no_grad():
        torch.testing.assert_close(restored._piecewise_linear(x), fresh(), rtol=0, atol=0)


def test_tokenizer_gradients_are_the_same_sums_on_any_number_of_threads():
    """The gradients of [MASK] and of the feature biases are sums over the masked entries of a
    batch; on two CPU threads they must come out bitwise as on one, on every pass (the
    backward of indexing added them with atomics, in an order that changed from run to run,
    so that two fits with one random_state drifted apart)."""
    tokenizer = FeatureTokenizer(80, [5, 3], d_token=32)
    x_num, x_cat = torch.randn(1024, 80), torch.randint(0, 3, (1024, 2))
    missing = torch.rand(1024, 82) < 0.5  # ~42,000 masked entries: the sums run in parallel
    upstream = torch.randn(1024, 83, 32)  # each masked entry its own gradient, as in a network

    def gradients():
        tokenizer.zero_grad()
        tokenizer(x_num, x_cat, missing).backward(upstream)
        return tokenizer.mask.grad.clone(), tokenizer.bias.grad.clone()

    serial = gradients()  # one thread (the fixture)
    torch.set_num_threads(2)  # the fixture restores the count
    for _ in range(5):
        mask, bias = gradients()
        assert torch.equal(mask, serial[0]) and torch.equal(bias, serial[1])

"""The tagger trainer's fast paths compute what the plain ones do."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from forge.trainers import bilstm_crf
from forge.trainers.bilstm_crf import Encoded, Params, predict_all, predict_by_length
from forge.trainers.crf_model import PAD_ID, BiLstmCrf, both_directions


def test_both_directions_reads_each_row_as_packed_sequences_do() -> None:
    torch.manual_seed(5)
    lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True)
    lengths = torch.tensor([7, 1, 4, 7, 3])
    inputs = torch.randn(5, 7, 6)
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    want = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=7)[0]
    got = both_directions(lstm, inputs, lengths)
    real = (torch.arange(7).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)
    torch.testing.assert_close(got * real, want, atol=1e-6, rtol=0)
    # and the gradients reach the same weights
    (got * real).sum().backward()
    grads = [p.grad.clone() for p in lstm.parameters()]
    lstm.zero_grad()
    want = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=7)[0]
    want.sum().backward()
    for got_grad, param in zip(grads, lstm.parameters(), strict=True):
        torch.testing.assert_close(got_grad, param.grad, atol=1e-5, rtol=0)


def test_both_directions_on_two_threads_gives_the_bits_of_one_thread() -> None:
    torch.manual_seed(8)
    lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True)
    lengths = torch.tensor([9, 2, 5, 9, 6, 1])
    base = torch.randn(6, 9, 6)

    def one_thread(inputs: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(9).unsqueeze(0)
        ends = lengths.unsqueeze(1)
        backwards = torch.where(steps < ends, ends - 1 - steps, steps).unsqueeze(2)
        zeros = inputs.new_zeros(1, 6, 5)

        def one_way(xs: torch.Tensor, suffix: str) -> torch.Tensor:
            weights = [getattr(lstm, f"{n}_l0{suffix}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            return torch.lstm(xs, (zeros, zeros), weights, True, 1, 0.0, True, False, True)[0]

        forward = one_way(inputs, "")
        backward = one_way(inputs.gather(1, backwards.expand(-1, -1, 6)), "_reverse")
        return torch.cat([forward, backward.gather(1, backwards.expand(-1, -1, 5))], dim=2)

    results = []
    for run in (one_thread, lambda inputs: both_directions(lstm, inputs, lengths)):
        lstm.zero_grad()
        inputs = base.clone().requires_grad_(True)
        out = run(inputs)
        out.sin().sum().backward()
        assert inputs.grad is not None
        results.append([out.detach(), inputs.grad, *(p.grad.clone() for p in lstm.parameters())])
    for want, got in zip(*results, strict=True):
        assert torch.equal(want, got)
    with torch.no_grad():  # no graph when no gradient is wanted
        assert not both_directions(lstm, base, lengths).requires_grad
    lstm.requires_grad_(False)
    assert not both_directions(lstm, base, lengths).requires_grad


def test_the_crf_loss_of_a_padded_batch_is_the_mean_of_its_rows() -> None:
    torch.manual_seed(6)
    model = BiLstmCrf(20, 4, 3, 5, 0.0).eval()
    rows = [[3, 4, 5, 6], [7, 8], [9, 10, 11]]
    tags = [[0, 1, 2, 0], [3, 4], [1, 1, 0]]

    def batch(chosen: list[int]) -> tuple[torch.Tensor, ...]:
        width = max(len(rows[i]) for i in chosen)
        ids = torch.tensor([rows[i] + [PAD_ID] * (width - len(rows[i])) for i in chosen])
        gold = torch.tensor([tags[i] + [0] * (width - len(tags[i])) for i in chosen])
        return ids, gold, torch.tensor([len(rows[i]) for i in chosen])

    alone = torch.stack([model.loss(*batch([i])) for i in range(3)]).mean()
    torch.testing.assert_close(model.loss(*batch([0, 1, 2])), alone, atol=1e-5, rtol=0)


def test_predicting_by_length_finds_the_paths_row_by_row_prediction_finds() -> None:
    torch.manual_seed(7)
    model = BiLstmCrf(30, 6, 5, 7, 0.0)
    generator = torch.Generator().manual_seed(8)
    ids = [torch.randint(2, 30, (int(n),), generator=generator).tolist() for n in torch.randint(0, 9, (60,))]
    data = Encoded(texts=[""] * len(ids), ids=ids, tags=[[0] * len(i) for i in ids], units=[[]] * len(ids))
    assert predict_by_length(model, data) == predict_all(model, data)


def test_batches_hold_every_row_once_cut_to_max_units_and_padded() -> None:
    generator = torch.Generator().manual_seed(3)
    lengths = torch.randint(0, 14, (90,), generator=generator).tolist()
    ids = [torch.randint(2, 30, (n,), generator=generator).tolist() for n in lengths]
    derived = lambda shift: [[(i + shift) % 7 for i in row] for row in ids]  # noqa: E731
    data = Encoded(
        texts=[""] * len(ids),
        ids=ids,
        tags=derived(0),
        units=[[]] * len(ids),
        before=derived(1),
        after=derived(2),
        lexicon=derived(3),
    )
    params = Params(batch_size=8, max_units=9, bigram_dim=4, char_dropout=0.0, lexicon_dropout=0.0)
    seen = []
    for batch in bilstm_crf._batches(data, params, torch.Generator().manual_seed(4)):
        ids_batch, tags, widths, before, after, lexicon = batch
        for r, n in enumerate(widths.tolist()):
            row = ids_batch[r].tolist()
            assert set(row[n:]) <= {PAD_ID} and len(row) == max(widths.tolist())
            seen.append(row[:n])
            for shift, column in enumerate((tags, before, after, lexicon)):
                assert column[r, :n].tolist() == [(i + shift) % 7 for i in row[:n]]
                assert set(column[r, n:].tolist()) <= {0}
    assert sorted(seen) == sorted(row[:9] for row in ids if row)

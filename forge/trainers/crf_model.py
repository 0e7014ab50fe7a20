"""A character BiLSTM with a linear-chain CRF on top (torch)."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import torch
from torch import nn

from cerebellum.lexicon import IDS as LEXICON_IDS
from cerebellum.viterbi import viterbi

PAD_ID, UNK_ID = 0, 1
Ids = torch.Tensor | None


class Emitter(nn.Module):
    """Embedding -> BiLSTM -> linear emission scores. This part goes to ONNX.

    With ``bigrams`` > 0, each unit's input also holds the embeddings of the bigram
    that ends at it and of the one that starts at it (``bigram_dim`` values each);
    with ``lexicon_dim`` > 0, then the embedding of its lexicon id (the words of a
    lexicon found around it, see ``cerebellum.lexicon``).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_dim: int,
        num_tags: int,
        dropout: float,
        bigrams: int = 0,
        bigram_dim: int = 0,
        lexicon_dim: int = 0,
        members: int = 1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.bigram_embedding = nn.Embedding(bigrams, bigram_dim, padding_idx=PAD_ID) if bigrams else None
        self.lexicon_embedding = (
            nn.Embedding(LEXICON_IDS, lexicon_dim, padding_idx=PAD_ID) if lexicon_dim and bigrams else None
        )
        inputs = embedding_dim + (2 * bigram_dim if bigrams else 0) + (lexicon_dim if self.lexicon_embedding else 0)
        self.lstm = nn.LSTM(inputs, hidden_dim, batch_first=True, bidirectional=True)
        # An ensemble's other BiLSTMs read the same inputs; the linear layer reads all their outputs.
        self.member_lstms = nn.ModuleList(
            nn.LSTM(inputs, hidden_dim, batch_first=True, bidirectional=True) for _ in range(members - 1)
        )
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(2 * hidden_dim * members, num_tags)

    def _inputs(self, ids: torch.Tensor, before: Ids, after: Ids, lexicon: Ids) -> torch.Tensor:
        if self.bigram_embedding is None:
            return self.embedding(ids)
        assert before is not None and after is not None
        parts = [self.embedding(ids), self.bigram_embedding(before), self.bigram_embedding(after)]
        if self.lexicon_embedding is not None:
            assert lexicon is not None
            parts.append(self.lexicon_embedding(lexicon))
        return torch.cat(parts, dim=-1)

    def forward(self, ids: torch.Tensor, before: Ids = None, after: Ids = None, lexicon: Ids = None) -> torch.Tensor:
        """Emissions for one unpadded sequence batch [b, n] (what the exported graph computes)."""
        inputs = self._inputs(ids, before, after, lexicon)
        return self.linear(torch.cat([lstm(inputs)[0] for lstm in self.lstms()], dim=-1))

    def lstms(self) -> list[nn.LSTM]:
        return [self.lstm, *self.member_lstms]

    def forward_padded(
        self, ids: torch.Tensor, lengths: torch.Tensor, before: Ids = None, after: Ids = None, lexicon: Ids = None
    ) -> torch.Tensor:
        """Emissions for a padded batch; each row's backward direction starts at its own end."""
        embedded = self.dropout(self._inputs(ids, before, after, lexicon))
        outputs = [both_directions(lstm, embedded, lengths) for lstm in self.lstms()]
        return self.linear(self.dropout(torch.cat(outputs, dim=-1)))


LSTM_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def both_directions(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A one-layer bidirectional ``lstm`` over a padded batch [b, n, d], as if each row were alone.

    Run as two one-way passes, the second over each row reversed within its length:
    what packed sequences compute, at a third of their training cost on CPU, where
    the backward pass of a packed LSTM fills a zeroed copy of the whole batch at every
    step. Outputs past a row's length are not zero and must be masked by the caller.
    """
    n = inputs.shape[1]
    steps = torch.arange(n).unsqueeze(0)
    ends = lengths.unsqueeze(1)
    backwards = torch.where(steps < ends, ends - 1 - steps, steps).unsqueeze(2)  # its own inverse
    weights = [getattr(lstm, f"{name}_l0{suffix}") for suffix in ("", "_reverse") for name in LSTM_WEIGHTS]
    out: torch.Tensor = _TwoThreads.apply(inputs, backwards, lstm.training, *weights)
    return out


def _one_way(xs: torch.Tensor, weights: list[torch.Tensor], train: bool) -> torch.Tensor:
    zeros = xs.new_zeros(1, xs.shape[0], weights[1].shape[1])
    return torch.lstm(xs, (zeros, zeros), weights, True, 1, 0.0, train, False, True)[0]


class _TwoThreads(torch.autograd.Function):
    """The two directions on two threads, forward and backward: the trainer computes on one
    thread, and torch leaves the interpreter lock inside an LSTM, so a second core takes about
    a third off the LSTMs' time (training 423 s -> 357 s on an AVX2 EPYC). Each direction runs
    in a graph of its own, from detached copies of the inputs and weights, and computes what
    it would alone; the inputs' gradient is the sum of the two directions' (one addition: the
    same bits in either order)."""

    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, backwards: torch.Tensor, train: bool, *weights: torch.Tensor) -> Any:
        grad = any(ctx.needs_input_grad)
        xs = inputs.detach().requires_grad_(grad)
        ahead, behind = ([w.detach().requires_grad_(grad) for w in ws] for ws in (weights[:4], weights[4:]))

        def forward_pass() -> torch.Tensor:
            with torch.set_grad_enabled(grad):  # thread-local in torch
                return _one_way(xs, ahead, train)

        pending = _helper().submit(forward_pass)
        with torch.set_grad_enabled(grad):
            reversed_rows = xs.gather(1, backwards.expand(-1, -1, xs.shape[2]))
            reverse = _one_way(reversed_rows, behind, train).gather(1, backwards.expand(-1, -1, behind[1].shape[1]))
        forward = pending.result()
        ctx.graphs = (xs, ahead, behind, forward, reverse)
        return torch.cat([forward.detach(), reverse.detach()], dim=2)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        xs, ahead, behind, forward, reverse = ctx.graphs
        width = forward.shape[2]
        pending = _helper().submit(torch.autograd.grad, forward, [xs, *ahead], grads[0][:, :, :width])
        from_reverse = torch.autograd.grad(reverse, [xs, *behind], grads[0][:, :, width:])
        from_forward = pending.result()
        return (from_forward[0] + from_reverse[0], None, None, *from_forward[1:], *from_reverse[1:])


@cache
def _helper() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="bilstm-forward")


class CRF(nn.Module):
    """Linear-chain CRF: transitions[i, j] scores tag i followed by tag j."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of ``tags`` over the batch. mask [b, n] is True on real units."""
        return (self._log_partition(emissions, mask) - self._gold_score(emissions, tags, mask)).mean()

    def _gold_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        maskf = mask.float()
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # [b, n]
        moves = self.transitions[tags[:, :-1], tags[:, 1:]]  # [b, n - 1]
        score = self.start[tags[:, 0]] + emitted[:, 0] + ((moves + emitted[:, 1:]) * maskf[:, 1:]).sum(dim=1)
        last = tags.gather(1, (mask.sum(dim=1) - 1).unsqueeze(1)).squeeze(1)
        return score + self.end[last]

    def _log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # unbind: one backward node for all steps, where slicing each step zero-fills a full copy
        steps, real = emissions.unbind(1), mask.unbind(1)
        alpha = self.start + steps[0]  # [b, T]
        for t in range(1, len(steps)):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions.unsqueeze(0), dim=1) + steps[t]
            alpha = torch.where(real[t].unsqueeze(1), nxt, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)


class BiLstmCrf(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_dim: int,
        num_tags: int,
        dropout: float,
        bigrams: int = 0,
        bigram_dim: int = 0,
        lexicon_dim: int = 0,
        members: int = 1,
    ) -> None:
        super().__init__()
        self.emitter = Emitter(
            vocab_size, embedding_dim, hidden_dim, num_tags, dropout, bigrams, bigram_dim, lexicon_dim, members
        )
        self.crf = CRF(num_tags)

    def loss(
        self,
        ids: torch.Tensor,
        tags: torch.Tensor,
        lengths: torch.Tensor,
        before: Ids = None,
        after: Ids = None,
        lexicon: Ids = None,
    ) -> torch.Tensor:
        mask = ids != PAD_ID
        emissions = self.emitter.forward_padded(ids, lengths, before, after, lexicon)
        return self.crf.neg_log_likelihood(emissions, tags, mask)

    @torch.no_grad()
    def predict(
        self,
        ids: list[int],
        before: list[int] | None = None,
        after: list[int] | None = None,
        lexicon: list[int] | None = None,
    ) -> list[int]:
        """The runtime's own float32 Viterbi (spec section 8) over this model's emissions."""
        if not ids:
            return []
        as_batch = lambda xs: None if xs is None else torch.tensor([xs], dtype=torch.long)  # noqa: E731
        emissions = self.emitter(as_batch(ids), as_batch(before), as_batch(after), as_batch(lexicon))[0].numpy()
        crf = self.crf
        return viterbi(emissions, *(p.detach().numpy() for p in (crf.transitions, crf.start, crf.end)))


@torch.no_grad()
def ensemble_of(models: list[BiLstmCrf]) -> BiLstmCrf:
    """One model whose emissions and CRF scores are the means of ``models``', which read the
    first one's embedding tables: its BiLSTMs side by side, one linear layer over all of them
    (each member's weights divided by their number), and the CRF scores averaged."""
    first = models[0]
    combined = copy.deepcopy(first)
    emitter = combined.emitter
    lstm = first.emitter.lstm
    emitter.member_lstms = nn.ModuleList(copy.deepcopy(m.emitter.lstm) for m in models[1:])
    linears = [m.emitter.linear for m in models]
    emitter.linear = nn.Linear(2 * lstm.hidden_size * len(models), linears[0].out_features)
    emitter.linear.weight.copy_(torch.cat([layer.weight for layer in linears], dim=1) / len(models))
    emitter.linear.bias.copy_(torch.stack([layer.bias for layer in linears]).mean(dim=0))
    for name in ("transitions", "start", "end"):
        getattr(combined.crf, name).copy_(torch.stack([getattr(m.crf, name) for m in models]).mean(dim=0))
    return combined.eval()

namespace Tern.Models;

/// <summary>
/// The tokens of one forward pass, from any number of sequences: token id, its position in its sequence, the
/// sequence's KV cache, and whether its logits or its hidden state (an embedding) are wanted. A sequence's tokens must
/// come in position order.
/// </summary>
public sealed class TokenBatch
{
    private int[] _tokens = new int[16];
    private int[] _positions = new int[16];
    private SequenceState[] _sequences = new SequenceState[16];
    private bool[] _outputs = new bool[16];
    private bool[] _hidden = new bool[16];

    public int Count { get; private set; }

    /// <summary>How many tokens want logits: the rows of the forward pass's output, in batch order.</summary>
    public int OutputCount { get; private set; }

    /// <summary>How many tokens want their hidden state: the rows of the forward pass's hidden output, in batch order.</summary>
    public int HiddenCount { get; private set; }

    /// <param name="hidden">Also (or instead) write the token's hidden state after the output norm, the vector llama.cpp
    /// returns as its embedding.</param>
    public void Add(int token, int position, SequenceState sequence, bool logits, bool hidden = false)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        if (Count == _tokens.Length)
        {
            int size = Count * 2;
            Array.Resize(ref _tokens, size);
            Array.Resize(ref _positions, size);
            Array.Resize(ref _sequences, size);
            Array.Resize(ref _outputs, size);
            Array.Resize(ref _hidden, size);
        }

        _tokens[Count] = token;
        _positions[Count] = position;
        _sequences[Count] = sequence;
        _outputs[Count] = logits;
        _hidden[Count] = hidden;
        Count++;
        if (logits)
            OutputCount++;
        if (hidden)
            HiddenCount++;
    }

    /// <summary>Adds tokens at consecutive positions from <paramref name="start"/>; only the last one wants logits
    /// when <paramref name="logitsForLast"/> is set.</summary>
    public void AddRange(ReadOnlySpan<int> tokens, int start, SequenceState sequence, bool logitsForLast = true)
    {
        for (int i = 0; i < tokens.Length; i++)
            Add(tokens[i], start + i, sequence, logitsForLast && i == tokens.Length - 1);
    }

    public void Clear()
    {
        Array.Clear(_sequences, 0, Count);
        Count = 0;
        OutputCount = 0;
        HiddenCount = 0;
    }

    internal ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Count);
    internal ReadOnlySpan<int> Positions => _positions.AsSpan(0, Count);
    internal ReadOnlySpan<SequenceState> Sequences => _sequences.AsSpan(0, Count);
    internal ReadOnlySpan<bool> Outputs => _outputs.AsSpan(0, Count);
    internal ReadOnlySpan<bool> Hidden => _hidden.AsSpan(0, Count);
}

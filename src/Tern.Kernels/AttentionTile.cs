using Tern.Gguf;

namespace Tern.Kernels;

/// <summary>
/// The queries that share one KV head in a run of consecutive tokens of one sequence: <see cref="Tokens"/> tokens
/// × <see cref="Group"/> query heads, each with its own output accumulator and online-softmax state. Query head g
/// of token t starts at t·<see cref="TokenStride"/> + g·<see cref="HeadDim"/> in <see cref="Queries"/> and at the
/// same offset in <see cref="Output"/>; its state is <see cref="States"/>[t·Group + g]. Token t sits at
/// <see cref="Positions"/>[t] of its sequence and sees only cached positions up to it (causal), and with a
/// sliding <see cref="Window"/> of w only the last w of those (positions p − w + 1 to p, as llama.cpp's standard
/// sliding-window mask).
/// </summary>
public readonly ref struct AttentionTile
{
    public AttentionTile(ReadOnlySpan<float> queries, Span<float> output, Span<Attention.OnlineSoftmax> states,
        ReadOnlySpan<int> positions, int group, int headDim, int tokenStride, int window = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(group);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokenStride, group * headDim);
        int tokens = positions.Length;
        long span = tokens == 0 ? 0 : (long)(tokens - 1) * tokenStride + group * headDim;
        if (queries.Length < span || output.Length < span || states.Length < tokens * group)
            throw new ArgumentException($"attention tile of {tokens} tokens × {group} heads of {headDim}: buffers too small");
        Queries = queries;
        Output = output;
        States = states;
        Positions = positions;
        Group = group;
        HeadDim = headDim;
        TokenStride = tokenStride;
        Window = window;
    }

    public ReadOnlySpan<float> Queries { get; }
    public Span<float> Output { get; }
    public Span<Attention.OnlineSoftmax> States { get; }
    public ReadOnlySpan<int> Positions { get; }
    public int Group { get; }
    public int HeadDim { get; }
    public int TokenStride { get; }

    /// <summary>How many positions up to its own a query sees; 0 for all of them.</summary>
    public int Window { get; }

    public int Tokens => Positions.Length;
}

/// <summary>
/// One KV head's keys and values at cached positions [<see cref="Start"/>, Start + <see cref="Count"/>) of a
/// sequence, in the cache's element types (<see cref="KvRows"/>): position Start + i at i·<see cref="KeyStride"/>
/// bytes in <see cref="Keys"/> and i·<see cref="ValueStride"/> bytes in <see cref="Values"/> (the head's slice of
/// a cache row).
/// </summary>
public readonly ref struct KvBlock
{
    public KvBlock(ReadOnlySpan<byte> keys, GgmlType keyType, int keyStride, ReadOnlySpan<byte> values, GgmlType valueType,
        int valueStride, int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyStride);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(valueStride);
        Keys = keys;
        KeyType = keyType;
        KeyStride = keyStride;
        Values = values;
        ValueType = valueType;
        ValueStride = valueStride;
        Start = start;
        Count = count;
    }

    public ReadOnlySpan<byte> Keys { get; }
    public GgmlType KeyType { get; }
    public int KeyStride { get; }
    public ReadOnlySpan<byte> Values { get; }
    public GgmlType ValueType { get; }
    public int ValueStride { get; }
    public int Start { get; }
    public int Count { get; }
}

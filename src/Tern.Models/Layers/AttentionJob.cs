using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// Self-attention of a batch over the KV cache, as work units for the pool. A unit is a (chunk of
/// <see cref="ChunkTokens"/> batch tokens, KV head) pair, latest chunks first (they tend to see the most positions,
/// so the longest units start first). Within its chunk, a unit takes each run of consecutive tokens of one sequence
/// at consecutive positions as a tile: the run's tokens × the KV head's query heads attend over the sequence's KV
/// blocks together, so each cached row is widened once for all.
/// </summary>
/// <remarks>
/// Split-K: cached positions fall into fixed segments of <see cref="SegmentPositions"/>; a query's softmax runs over
/// each segment separately and the partial results are merged in segment order (<see cref="Attention.Merge"/>).
/// For a small batch (decode) each segment is a unit of its own, so one sequence's decode at depth spreads over
/// all threads, and the merge runs after them; for a large batch (prompts) a unit does its segments in turn. Both
/// do the same operations in the same order, so a query's result does not depend on which way it went.
/// </remarks>
internal unsafe ref struct AttentionJob : IParallelJob
{
    /// <summary>Batch tokens per unit (the longest tile): enough that widening a cached row is a small share
    /// of the work it feeds, few enough that a prompt gives every thread many units.</summary>
    public const int ChunkTokens = 16;

    /// <summary>Cached positions per split-K segment (rounded to whole KV blocks).</summary>
    public const int SegmentPositions = 1024;

    /// <summary>Largest partial-result buffer (floats) a split may use; bigger batches do their segments in turn.
    /// Settable so tests can force either way (which gives the same bits).</summary>
    internal static long MaxPartialFloats = 4 << 20;

    [ThreadStatic]
    private static float[]? t_merged;

    public KvCache Cache;
    public ReadOnlySpan<KvSequence> Sequences;
    public ReadOnlySpan<int> Positions;
    public int Layer;
    public float* Q;
    public float* Output;
    public int Chunks;
    public int KvHeads;
    public int GroupSize;
    public int HeadDim;
    public int QDim;
    public float Scale;

    /// <summary>Sliding window: a query sees this many positions up to its own; 0 for all.</summary>
    public int Window;

    /// <summary>When split: segments per tile (the batch's most), and per segment the partial accumulators
    /// [N, QDim] and softmax states [N, heads], back to back.</summary>
    public int Segments;
    public float* Partials;
    public Attention.OnlineSoftmax* PartialStates;

    public readonly bool Split => Partials != null;
    public readonly int Units => Chunks * KvHeads * (Split ? Segments : 1);
    private readonly int SegmentBlocks => Math.Max(1, SegmentPositions / Cache.BlockTokens);
    private readonly int Heads => KvHeads * GroupSize;

    /// <summary>Segments a sequence attending up to (and including) <paramref name="lastPosition"/> spans.</summary>
    public static int SegmentCount(int lastPosition, int blockTokens)
    {
        int segmentTokens = Math.Max(1, SegmentPositions / blockTokens) * blockTokens;
        return lastPosition / segmentTokens + 1;
    }

    /// <summary>Whether the batch splits its segments over units: several segments, and partials that fit the cap.</summary>
    public static bool ShouldSplit(int tokens, int segments, int qDim) => segments > 1 && (long)tokens * segments * qDim <= MaxPartialFloats;

    /// <summary>How many tokens from batch index <paramref name="first"/> form one tile: the same sequence at
    /// consecutive positions, within <paramref name="first"/>'s chunk.</summary>
    public static int RunLength(ReadOnlySpan<KvSequence> sequences, ReadOnlySpan<int> positions, int first)
    {
        int end = Math.Min(sequences.Length, (first / ChunkTokens + 1) * ChunkTokens);
        int t = first + 1;
        while (t < end && sequences[t] == sequences[first] && positions[t] == positions[t - 1] + 1)
            t++;
        return t - first;
    }

    public readonly void Execute(int index)
    {
        int segment = Split ? index % Segments : -1;
        int rest = Split ? index / Segments : index;
        int chunk = Chunks - 1 - rest / KvHeads;
        int kvHead = rest % KvHeads;
        Span<Attention.OnlineSoftmax> states = stackalloc Attention.OnlineSoftmax[ChunkTokens * GroupSize];
        Span<float> scratch = stackalloc float[Attention.ScratchLength(HeadDim)];
        int end = Math.Min(Positions.Length, (chunk + 1) * ChunkTokens);
        for (int first = chunk * ChunkTokens; first < end;)
        {
            int tokens = RunLength(Sequences, Positions, first);
            if (Split)
                Partial(first, tokens, kvHead, segment, states, scratch);
            else
                Tile(first, tokens, kvHead, states, scratch);
            first += tokens;
        }
    }

    /// <summary>The tile's queries over all their segments in turn, merged, normalised into the output.</summary>
    private readonly void Tile(int first, int tokens, int kvHead, Span<Attention.OnlineSoftmax> states, Span<float> scratch)
    {
        var tile = MakeTile(Output, first, tokens, kvHead, states);
        int segments = SegmentCount(Positions[first + tokens - 1], Cache.BlockTokens);
        int rowLength = GroupSize * HeadDim;
        Span<Attention.OnlineSoftmax> merged = stackalloc Attention.OnlineSoftmax[segments > 1 ? tokens * GroupSize : 0];
        var mergedAcc = segments > 1 ? MergeBuffer(tokens * rowLength) : default;
        for (int s = 0; s < segments; s++)
        {
            Attention.Begin(tile);
            AccumulateSegment(tile, first, kvHead, s, scratch);
            if (segments == 1)
                break;
            for (int t = 0; t < tokens; t++)
            {
                var acc = tile.Output.Slice(t * QDim, rowLength);
                var into = mergedAcc.Slice(t * rowLength, rowLength);
                for (int g = 0; g < GroupSize; g++)
                {
                    int q = t * GroupSize + g;
                    if (s == 0)
                        merged[q] = tile.States[q];
                    else
                        Attention.Merge(ref merged[q], into.Slice(g * HeadDim, HeadDim), tile.States[q], acc.Slice(g * HeadDim, HeadDim));
                }

                if (s == 0)
                    acc.CopyTo(into);
            }
        }

        if (segments > 1)
        {
            for (int t = 0; t < tokens; t++)
                mergedAcc.Slice(t * rowLength, rowLength).CopyTo(tile.Output.Slice(t * QDim, rowLength));
            merged.CopyTo(tile.States);
        }

        Attention.Finish(tile);
    }

    /// <summary>The tile's queries over one segment, left unnormalised in that segment's partial buffers.</summary>
    private readonly void Partial(int first, int tokens, int kvHead, int segment, Span<Attention.OnlineSoftmax> states, Span<float> scratch)
    {
        long n = Positions.Length;
        var tile = MakeTile(Partials + segment * n * QDim, first, tokens, kvHead, states);
        Attention.Begin(tile);
        AccumulateSegment(tile, first, kvHead, segment, scratch);
        var stored = PartialStates + segment * n * Heads;
        for (int t = 0; t < tokens; t++)
        {
            for (int g = 0; g < GroupSize; g++)
                stored[(first + t) * Heads + kvHead * GroupSize + g] = tile.States[t * GroupSize + g];
        }
    }

    /// <summary>After a split: each query's partials merged in segment order and normalised into the output.</summary>
    public readonly void Reduce()
    {
        long n = Positions.Length;
        for (int t = 0; t < n; t++)
        {
            for (int head = 0; head < Heads; head++)
            {
                long at = t * QDim + head * HeadDim;
                var acc = new Span<float>(Output + at, HeadDim);
                new ReadOnlySpan<float>(Partials + at, HeadDim).CopyTo(acc);
                var state = PartialStates[t * Heads + head];
                for (int s = 1; s < Segments; s++)
                    Attention.Merge(ref state, acc, PartialStates[s * n * Heads + t * Heads + head], new ReadOnlySpan<float>(Partials + s * n * QDim + at, HeadDim));
                Attention.Normalize(state, acc);
            }
        }
    }

    private readonly AttentionTile MakeTile(float* output, int first, int tokens, int kvHead, Span<Attention.OnlineSoftmax> states)
    {
        int offset = first * QDim + kvHead * GroupSize * HeadDim;
        int length = (tokens - 1) * QDim + GroupSize * HeadDim;
        return new AttentionTile(new ReadOnlySpan<float>(Q + offset, length), new Span<float>(output + offset, length),
            states, Positions.Slice(first, tokens), GroupSize, HeadDim, QDim, Window);
    }

    /// <summary>Adds the KV blocks of one segment that the tile's last token sees (the kernel masks the others' view).</summary>
    private readonly void AccumulateSegment(in AttentionTile tile, int first, int kvHead, int segment, Span<float> scratch)
    {
        int blockTokens = Cache.BlockTokens;
        var blocks = Sequences[first].BlockList;
        int count = tile.Positions[^1] + 1;
        int keyHead = Cache.Layer(Layer).KeyHeadBytes, valueHead = Cache.Layer(Layer).ValueHeadBytes;
        int last = Math.Min((segment + 1) * SegmentBlocks, (count + blockTokens - 1) / blockTokens);
        int firstSeen = Window == 0 ? 0 : Math.Max(0, tile.Positions[0] - Window + 1); // the tile's earliest query sees least
        for (int b = Math.Max(segment * SegmentBlocks, firstSeen / blockTokens); b < last; b++)
        {
            int n = Math.Min(blockTokens, count - b * blockTokens);
            var keys = new ReadOnlySpan<byte>(Cache.HeadRows(blocks[b], Layer, false, kvHead), n * keyHead);
            var values = new ReadOnlySpan<byte>(Cache.HeadRows(blocks[b], Layer, true, kvHead), n * valueHead);
            Attention.Accumulate(tile, new KvBlock(keys, Cache.KeyType, keyHead, values, Cache.ValueType, valueHead, b * blockTokens, n), Scale, scratch);
        }
    }

    private static Span<float> MergeBuffer(int length)
    {
        if (t_merged is null || t_merged.Length < length)
            t_merged = new float[length];
        return t_merged.AsSpan(0, length);
    }
}

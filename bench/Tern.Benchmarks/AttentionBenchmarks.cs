using BenchmarkDotNet.Attributes;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>
/// One thread, one layer of llama-1b's attention (32 query heads over 8 KV heads of 64, F16 cache in blocks of 32
/// positions): the last <see cref="Tokens"/> positions of a <see cref="Context"/>-position sequence attend over
/// it, in tiles of <see cref="TileTokens"/> tokens × the 4 query heads of a KV head. Tokens = 1 is a decode step;
/// TileTokens = 1 widens the cache once per token rather than once per tile.
/// </summary>
public class AttentionBenchmarks
{
    private const int Heads = 32, KvHeads = 8, HeadDim = 64, Group = Heads / KvHeads, BlockTokens = 32;
    private const int QDim = Heads * HeadDim, KvDim = KvHeads * HeadDim;

    private ushort[] _keys = [], _values = [];
    private float[] _queries = [], _output = [], _scratch = [];
    private Attention.OnlineSoftmax[] _states = [];
    private int[] _positions = [];

    [Params(1024, 4096)]
    public int Context { get; set; }

    [Params(1, 256)]
    public int Tokens { get; set; }

    [Params(1, 16)]
    public int TileTokens { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _keys = new ushort[Context * KvDim];
        _values = new ushort[Context * KvDim];
        for (var i = 0; i < _keys.Length; i++)
        {
            _keys[i] = BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 2 - 1));
            _values[i] = BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 2 - 1));
        }

        _queries = BenchmarkWeights.RandomFloats(Tokens * QDim, random);
        _output = new float[Tokens * QDim];
        _scratch = new float[Attention.ScratchLength(HeadDim)];
        _states = new Attention.OnlineSoftmax[TileTokens * Group];
        _positions = Enumerable.Range(Context - Tokens, Tokens).ToArray();
    }

    [Benchmark]
    public float Layer()
    {
        for (var first = 0; first < Tokens; first += TileTokens)
        {
            var tokens = Math.Min(TileTokens, Tokens - first);
            for (var kvHead = 0; kvHead < KvHeads; kvHead++)
            {
                int offset = first * QDim + kvHead * Group * HeadDim, length = (tokens - 1) * QDim + Group * HeadDim;
                var tile = new AttentionTile(_queries.AsSpan(offset, length), _output.AsSpan(offset, length), _states,
                    _positions.AsSpan(first, tokens), Group, HeadDim, QDim);
                Attention.Begin(tile);
                var count = _positions[first + tokens - 1] + 1;
                var span = (BlockTokens - 1) * KvDim + HeadDim;
                for (var start = 0; start < count; start += BlockTokens)
                {
                    var at = start * KvDim + kvHead * HeadDim;
                    var n = Math.Min(BlockTokens, count - start);
                    var block = new KvBlock(_keys.AsSpan(at, Math.Min(span, _keys.Length - at)), _values.AsSpan(at, Math.Min(span, _values.Length - at)),
                        KvDim, start, n);
                    Attention.Accumulate(tile, block, 0.125f, _scratch);
                }

                Attention.Finish(tile);
            }
        }

        return _output[0];
    }
}

using BenchmarkDotNet.Attributes;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>
/// One thread, one layer of llama-1b's attention (32 query heads over 8 KV heads of 64, F16 or Q8_0 cache laid out head by head, as KvCache does, in blocks of 32
/// positions): the last <see cref="Tokens"/> positions of a <see cref="Context"/>-position sequence attend over
/// it, in tiles of <see cref="TileTokens"/> tokens × the 4 query heads of a KV head. Tokens = 1 is a decode step;
/// TileTokens = 1 widens the cache once per token rather than once per tile.
/// </summary>
public class AttentionBenchmarks
{
    private const int Heads = 32, KvHeads = 8, HeadDim = 64, Group = Heads / KvHeads, BlockTokens = 32;
    private const int QDim = Heads * HeadDim, KvDim = KvHeads * HeadDim;

    private byte[] _keys = [], _values = [];
    private int _headBytes;
    private float[] _queries = [], _output = [], _scratch = [];
    private Attention.OnlineSoftmax[] _states = [];
    private int[] _positions = [];

    [Params(1024, 4096)]
    public int Context { get; set; }

    [Params(1, 256)]
    public int Tokens { get; set; }

    [Params(1, 16)]
    public int TileTokens { get; set; }

    [Params(GgmlType.F16, GgmlType.Q8_0)]
    public GgmlType CacheType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _headBytes = KvRows.RowBytes(CacheType, HeadDim);
        _keys = new byte[KvHeads * Context * _headBytes];
        _values = new byte[KvHeads * Context * _headBytes];
        for (var i = 0; i < KvHeads * Context; i++)
        {
            KvRows.Store(CacheType, BenchmarkWeights.RandomFloats(HeadDim, random), _keys.AsSpan(i * _headBytes, _headBytes));
            KvRows.Store(CacheType, BenchmarkWeights.RandomFloats(HeadDim, random), _values.AsSpan(i * _headBytes, _headBytes));
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
                for (var start = 0; start < count; start += BlockTokens)
                {
                    var at = kvHead * Context * _headBytes + start * _headBytes;
                    var n = Math.Min(BlockTokens, count - start);
                    var span = n * _headBytes;
                    var block = new KvBlock(_keys.AsSpan(at, span), CacheType, _headBytes, _values.AsSpan(at, span), CacheType, _headBytes, start, n);
                    Attention.Accumulate(tile, block, 0.125f, _scratch);
                }

                Attention.Finish(tile);
            }
        }

        return _output[0];
    }
}

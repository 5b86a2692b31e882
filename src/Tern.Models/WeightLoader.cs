using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// Finds tensors by name and checks their shapes against the hyperparameters, with errors that say which. Owns the
/// repacked copies of the matrices it hands out for linear layers, for types with a repacked layout.
/// </summary>
internal sealed unsafe class WeightLoader : IDisposable
{
    private readonly GgufFile _file;
    private readonly bool _repack;
    private readonly List<Weight> _repacked = [];
    private readonly Action<LoadProgress>? _progress;
    private readonly int _toRepack;

    public WeightLoader(GgufFile file, bool repack = true, Action<LoadProgress>? progress = null)
    {
        _file = file;
        _repack = repack;
        _progress = progress;
        if (progress is null)
            return;
        _toRepack = repack ? file.Tensors.Count(WillRepack) : 0;
        Report();
    }

    /// <summary>Whether loading will repack the tensor: a matrix of a type with a repacked layout, except the
    /// embedding table, which is repacked only as the tied output matrix.</summary>
    private bool WillRepack(GgufTensorInfo t) =>
        t.Dimensions.Length >= 2 && QuantTypes.IsSupported(t.Type) && QuantTypes.Get(t.Type).Repacked is not null
        && (t.Name != "token_embd.weight" || !_file.TryGetTensor("output.weight", out _));

    private void Report() =>
        _progress?.Invoke(new LoadProgress(_file.Path, _file.Parts.Count, _file.Parts.Sum(p => p.FileSize), _repacked.Count, _toRepack));

    /// <summary>A linear layer's matrix with GGUF dimensions [cols, rows] (ggml order: the row length first).</summary>
    public Weight Matrix(string name, int cols, int rows) => TryMatrix(name, cols, rows) ?? throw Missing(name);

    public Weight? TryMatrix(string name, int cols, int rows) => Repack(Find(name, [cols, rows], 1));

    /// <summary>
    /// The weight repacked for its type's faster kernel when the type has a layout; the file's pages are then needed
    /// only for embedding rows, so they are given back rather than counted twice.
    /// </summary>
    private Weight? Repack(Weight? weight)
    {
        if (_repack && weight is { Type.Repacked: not null })
        {
            weight.Repack();
            _repacked.Add(weight);
            _file.ReleasePages(_file.GetTensor(weight.Name));
            Report();
        }

        return weight;
    }

    /// <summary>The matrices (and expert tensors) repacked for their type's repacked kernel, in loading order.</summary>
    public IReadOnlyList<Weight> Repacked => _repacked;

    /// <summary>A table whose rows are looked up (token embeddings), kept as stored in the _file.</summary>
    public Weight Table(string name, int cols, int rows) => Find(name, [cols, rows], 1) ?? throw Missing(name);

    /// <summary>Experts stacked in a 3-D tensor [cols, rows, experts].</summary>
    public Weight Experts(string name, int cols, int rows, int experts) => Repack(Find(name, [cols, rows, experts], experts)) ?? throw Missing(name);

    /// <summary>A 1-D tensor (norm weight, bias) as floats.</summary>
    public float[] Vector(string name, int length) => TryVector(name, length) ?? throw Missing(name);

    public float[]? TryVector(string name, int length) => TryFloats(name, [length]);

    /// <summary>A small tensor of any shape (ggml order) as floats, e.g. a conv kernel.</summary>
    public float[] Floats(string name, params long[] shape) => TryFloats(name, shape) ?? throw Missing(name);

    private float[]? TryFloats(string name, long[] shape)
    {
        if (!_file.TryGetTensor(name, out var tensor))
            return null;
        CheckShape(tensor, shape);
        var type = Type(tensor);
        var values = new float[checked((int)shape.Aggregate(1L, (a, b) => a * b))];
        type.ToFloat(_file.GetTensorBytes(tensor), values);
        return values;
    }

    public bool Has(string name) => _file.TryGetTensor(name, out _);

    private Weight? Find(string name, long[] shape, int experts)
    {
        if (!_file.TryGetTensor(name, out var tensor))
            return null;
        CheckShape(tensor, shape);
        var type = Type(tensor);
        if (type.Dot is null)
            throw new ModelLoadException(_file.Path, $"{name}: tensor type {tensor.Type} cannot be used as a weight matrix");
        return new Weight(name, type, (int)shape[1], (int)shape[0], experts, (byte*)_file.GetTensorAddress(tensor));
    }

    private QuantType Type(GgufTensorInfo tensor) => QuantTypes.IsSupported(tensor.Type)
        ? QuantTypes.Get(tensor.Type)
        : throw new ModelLoadException(_file.Path, $"{tensor.Name}: tensor type {tensor.Type} is not supported");

    private void CheckShape(GgufTensorInfo tensor, long[] expected)
    {
        if (!tensor.Dimensions.SequenceEqual(expected))
            throw new ModelLoadException(_file.Path, $"{tensor.Name}: expected shape [{string.Join(", ", expected)}], found {tensor.Shape}");
    }

    private ModelLoadException Missing(string name) => new(_file.Path, $"tensor {name} is missing");

    public void Dispose()
    {
        foreach (var weight in _repacked)
            weight.FreeRepacked();
        _repacked.Clear();
    }
}

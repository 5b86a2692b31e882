using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>Finds tensors by name and checks their shapes against the hyperparameters, with errors that say which.</summary>
internal sealed unsafe class WeightLoader(GgufFile file)
{
    /// <summary>A matrix with GGUF dimensions [cols, rows] (ggml order: the row length first).</summary>
    public Weight Matrix(string name, int cols, int rows) => TryMatrix(name, cols, rows) ?? throw Missing(name);

    public Weight? TryMatrix(string name, int cols, int rows) => Find(name, [cols, rows], 1);

    /// <summary>Experts stacked in a 3-D tensor [cols, rows, experts].</summary>
    public Weight Experts(string name, int cols, int rows, int experts) => Find(name, [cols, rows, experts], experts) ?? throw Missing(name);

    /// <summary>A 1-D tensor (norm weight, bias) as floats.</summary>
    public float[] Vector(string name, int length) => TryVector(name, length) ?? throw Missing(name);

    public float[]? TryVector(string name, int length)
    {
        if (!file.TryGetTensor(name, out var tensor))
            return null;
        CheckShape(tensor, [length]);
        var type = Type(tensor);
        var values = new float[length];
        type.ToFloat(file.GetTensorBytes(tensor), values);
        return values;
    }

    public bool Has(string name) => file.TryGetTensor(name, out _);

    private Weight? Find(string name, long[] shape, int experts)
    {
        if (!file.TryGetTensor(name, out var tensor))
            return null;
        CheckShape(tensor, shape);
        var type = Type(tensor);
        if (type.Dot is null)
            throw new ModelLoadException(file.Path, $"{name}: tensor type {tensor.Type} cannot be used as a weight matrix");
        return new Weight(name, type, (int)shape[1], (int)shape[0], experts, (byte*)file.GetTensorAddress(tensor));
    }

    private QuantType Type(GgufTensorInfo tensor) => QuantTypes.IsSupported(tensor.Type)
        ? QuantTypes.Get(tensor.Type)
        : throw new ModelLoadException(file.Path, $"{tensor.Name}: tensor type {tensor.Type} is not supported");

    private void CheckShape(GgufTensorInfo tensor, long[] expected)
    {
        if (!tensor.Dimensions.SequenceEqual(expected))
            throw new ModelLoadException(file.Path, $"{tensor.Name}: expected shape [{string.Join(", ", expected)}], found {tensor.Shape}");
    }

    private ModelLoadException Missing(string name) => new(file.Path, $"tensor {name} is missing");
}

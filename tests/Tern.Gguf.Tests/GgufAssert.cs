namespace Tern.Gguf.Tests;

/// <summary>Exact comparisons of GGUF metadata: type, value and, for floats, the bit pattern (NaN payloads, -0).</summary>
internal static class GgufAssert
{
    public static void SameMetadata(IReadOnlyList<KeyValuePair<string, GgufValue>> expected, IReadOnlyList<KeyValuePair<string, GgufValue>> actual)
    {
        Assert.Equal(expected.Select(kv => kv.Key), actual.Select(kv => kv.Key));
        for (int i = 0; i < expected.Count; i++)
            SameValue(expected[i].Value, actual[i].Value, expected[i].Key);
    }

    public static void SameValue(GgufValue expected, GgufValue actual, string where)
    {
        if (expected.Type != actual.Type)
            Assert.Fail($"{where}: type {actual.Type}, expected {expected.Type}");
        if (expected.Value is GgufArray e)
            SameArray(e, (GgufArray)actual.Value, where);
        else if (!SameScalar(expected.Value, actual.Value))
            Assert.Fail($"{where}: value {actual}, expected {expected}");
    }

    public static void SameArray(GgufArray expected, GgufArray actual, string where)
    {
        if (expected.ElementType != actual.ElementType)
            Assert.Fail($"{where}: array of {actual.ElementType}, expected array of {expected.ElementType}");
        if (expected.Count != actual.Count)
            Assert.Fail($"{where}: {actual.Count} items, expected {expected.Count}");
        Assert.Equal(expected.Items.GetType(), actual.Items.GetType());
        for (int i = 0; i < expected.Count; i++)
        {
            object e = expected.Items.GetValue(i)!, a = actual.Items.GetValue(i)!;
            if (e is GgufArray inner)
                SameArray(inner, (GgufArray)a, $"{where}[{i}]");
            else if (!SameScalar(e, a))
                Assert.Fail($"{where}[{i}]: {a}, expected {e}");
        }
    }

    private static bool SameScalar(object expected, object actual) => (expected, actual) switch
    {
        (float e, float a) => BitConverter.SingleToUInt32Bits(e) == BitConverter.SingleToUInt32Bits(a),
        (double e, double a) => BitConverter.DoubleToUInt64Bits(e) == BitConverter.DoubleToUInt64Bits(a),
        _ => expected.GetType() == actual.GetType() && expected.Equals(actual),
    };

    public static void SameTensors(GgufFile expected, GgufFile actual)
    {
        Assert.Equal(expected.Tensors.Count, actual.Tensors.Count);
        for (int i = 0; i < expected.Tensors.Count; i++)
        {
            GgufTensorInfo e = expected.Tensors[i], a = actual.Tensors[i];
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.Type, a.Type);
            Assert.Equal(e.Dimensions, a.Dimensions);
            Assert.Equal(e.Offset, a.Offset);
            if (!expected.GetTensorBytes(e).SequenceEqual(actual.GetTensorBytes(a)))
                Assert.Fail($"tensor '{e.Name}': data differs");
        }
    }

    /// <summary>Opening <paramref name="path"/> fails with a GgufFormatException at <paramref name="offset"/>.</summary>
    public static GgufFormatException Rejects(string path, long offset, string problem)
    {
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Equal(path, ex.FilePath);
        if (ex.Offset != offset || !ex.Problem.Contains(problem, StringComparison.Ordinal))
            Assert.Fail($"expected an error at byte {offset} containing \"{problem}\", got: {ex.Message}");
        Assert.StartsWith($"{path}: at byte {offset}: ", ex.Message, StringComparison.Ordinal);
        return ex;
    }
}

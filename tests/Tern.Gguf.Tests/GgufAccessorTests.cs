namespace Tern.Gguf.Tests;

/// <summary>Typed metadata accessors: conversions they allow, null for absent keys, errors that name the key.</summary>
public sealed class GgufAccessorTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly GgufFile _file;

    public GgufAccessorTests()
    {
        var writer = new GgufWriter();
        foreach (var (key, value) in GgufReaderTests.EveryValueType())
            writer.Add(key, value);
        writer.Add("arr.u32.big", GgufValue.From(new GgufArray(GgufValueType.UInt32, new uint[] { 1, 3_000_000_000 })));
        writer.Add("arr.i64.small", GgufValue.From(new GgufArray(GgufValueType.Int64, new[] { 1L, -3_000_000_000L })));
        writer.Add("arr.u64.small", GgufValue.From(new GgufArray(GgufValueType.UInt64, new ulong[] { 5, 6 })));
        writer.Add("u64.small", GgufValue.From(123UL));
        string path = _temp.File("accessors.gguf");
        writer.WriteFile(path);
        _file = GgufFile.Open(path);
    }

    public void Dispose()
    {
        _file.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public void Accessors_return_values_of_the_right_type()
    {
        Assert.Equal("héllo, 世界 🦜", _file.GetString("str"));
        Assert.Equal("", _file.GetString("str.empty"));
        Assert.True(_file.GetBool("bool.true"));
        Assert.False(_file.GetBool("bool.false"));
        Assert.Equal(Math.PI, _file.GetFloat("f64"));
        Assert.Equal(["", "x", "ü"], _file.GetStringArray("arr.str")!);
        Assert.Empty(_file.GetStringArray("arr.empty")!);
        Assert.True(_file.TryGetValue("u8", out var u8));
        Assert.Equal(GgufValueType.UInt8, u8.Type);
        Assert.Same(u8, _file["u8"]);
    }

    [Theory]
    [InlineData("u8", 255L)]
    [InlineData("i8", -128L)]
    [InlineData("u16", 65535L)]
    [InlineData("i16", -32768L)]
    [InlineData("u32", 4294967295L)]
    [InlineData("i32", -2147483648L)]
    [InlineData("i64", long.MinValue)]
    [InlineData("u64.small", 123L)]
    public void GetInteger_widens_every_integer_type(string key, long expected)
    {
        Assert.Equal(expected, _file.GetInteger(key));
        Assert.Equal(expected, _file.GetFloat(key)); // integers are numbers too
    }

    [Fact]
    public void GetFloat_reads_float32_exactly()
    {
        Assert.Equal(BitConverter.DoubleToInt64Bits(-0.0), BitConverter.DoubleToInt64Bits(_file.GetFloat("f32")!.Value));
        Assert.True(double.IsNaN(_file.GetFloat("f32.nan")!.Value));
    }

    /// <summary>Regression: the CLR lets sbyte[] match a byte[] pattern and uint[] an int[] one.</summary>
    [Fact]
    public void Array_accessors_convert_compatible_element_types()
    {
        Assert.Equal([1.25f, float.NegativeInfinity], _file.GetFloatArray("arr.f32")![..2]);
        Assert.Equal([(float)double.Epsilon, -2.5f], _file.GetFloatArray("arr.f64")!);
        Assert.Equal([int.MinValue, 7], _file.GetInt32Array("arr.i32")!);
        Assert.Equal([0, 1, 255], _file.GetInt32Array("arr.u8")!);
        Assert.Equal([-128, 0, 127], _file.GetInt32Array("arr.i8")!);
        Assert.Equal([0, 65535], _file.GetInt32Array("arr.u16")!);
        Assert.Equal([-32768, 32767], _file.GetInt32Array("arr.i16")!);
        Assert.Equal([5, 6], _file.GetInt32Array("arr.u64.small")!);
    }

    [Fact]
    public void Absent_keys_give_null()
    {
        const string missing = "llama.missing";
        Assert.Null(_file.GetString(missing));
        Assert.Null(_file.GetInteger(missing));
        Assert.Null(_file.GetFloat(missing));
        Assert.Null(_file.GetBool(missing));
        Assert.Null(_file.GetStringArray(missing));
        Assert.Null(_file.GetFloatArray(missing));
        Assert.Null(_file.GetInt32Array(missing));
        Assert.Null(_file[missing]);
        Assert.False(_file.TryGetValue(missing, out _));
    }

    public static TheoryData<string, string, string> WrongTypes() => new()
    {
        { nameof(GgufFile.GetString), "u32", "UInt32, not string" },
        { nameof(GgufFile.GetString), "arr.str", "Array, not string" },
        { nameof(GgufFile.GetInteger), "str", "String, not integer" },
        { nameof(GgufFile.GetInteger), "f32", "Float32, not integer" },
        { nameof(GgufFile.GetInteger), "u64", "UInt64 too large for Int64" },
        { nameof(GgufFile.GetFloat), "str", "String, not number" },
        { nameof(GgufFile.GetFloat), "bool.true", "Bool, not number" },
        { nameof(GgufFile.GetBool), "u8", "UInt8, not bool" },
        { nameof(GgufFile.GetStringArray), "str", "String, not array" },
        { nameof(GgufFile.GetStringArray), "arr.i32", "an array of Int32, not of strings" },
        { nameof(GgufFile.GetStringArray), "arr.arr", "an array of Array, not of strings" },
        { nameof(GgufFile.GetFloatArray), "arr.str", "an array of String, not of floats" },
        { nameof(GgufFile.GetFloatArray), "f32", "Float32, not array" },
        { nameof(GgufFile.GetInt32Array), "arr.f32", "an array of Float32, not of integers" },
        { nameof(GgufFile.GetInt32Array), "arr.bool", "an array of Bool, not of integers" },
        { nameof(GgufFile.GetInt32Array), "arr.u32.big", "item 1 is 3000000000, outside the Int32 range" },
        { nameof(GgufFile.GetInt32Array), "arr.i64.small", "item 1 is -3000000000, outside the Int32 range" },
        { nameof(GgufFile.GetInt32Array), "arr.u64", "item 0 is 18446744073709551615, outside the Int32 range" },
    };

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public void Accessor_on_a_value_of_the_wrong_type_throws_InvalidCastException_naming_the_key(string accessor, string key, string problem)
    {
        Action read = accessor switch
        {
            nameof(GgufFile.GetString) => () => _file.GetString(key),
            nameof(GgufFile.GetInteger) => () => _file.GetInteger(key),
            nameof(GgufFile.GetFloat) => () => _file.GetFloat(key),
            nameof(GgufFile.GetBool) => () => _file.GetBool(key),
            nameof(GgufFile.GetStringArray) => () => _file.GetStringArray(key),
            nameof(GgufFile.GetFloatArray) => () => _file.GetFloatArray(key),
            nameof(GgufFile.GetInt32Array) => () => _file.GetInt32Array(key),
            _ => throw new ArgumentOutOfRangeException(nameof(accessor)),
        };
        var ex = Assert.Throws<InvalidCastException>(read);
        Assert.Contains($"metadata '{key}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }
}

namespace Tern.Chat;

/// <summary>
/// The <c>loop</c> variable of a for loop: index, index0, revindex, revindex0, first, last, length, previtem,
/// nextitem, depth, depth0, cycle(...), changed(...); callable as <c>loop(children)</c> in a recursive loop.
/// </summary>
internal sealed class LoopValue(IReadOnlyList<Value> items, int depth0, Func<Value, Value>? recurse) : CallableValue
{
    private Value[]? _lastChanged;

    public int Index0 { get; set; }

    public override string TypeName => "LoopContext";

    public override string ObjectTypeRepr => "jinja2.runtime.LoopContext object";

    public Value? Attribute(string name) => name switch
    {
        "index" => IntValue.Of(Index0 + 1),
        "index0" => IntValue.Of(Index0),
        "revindex" => IntValue.Of(items.Count - Index0),
        "revindex0" => IntValue.Of(items.Count - Index0 - 1),
        "first" => Bool(Index0 == 0),
        "last" => Bool(Index0 == items.Count - 1),
        "length" => IntValue.Of(items.Count),
        "depth" => IntValue.Of(depth0 + 1),
        "depth0" => IntValue.Of(depth0),
        "previtem" => Index0 > 0 ? items[Index0 - 1] : UndefinedValue.Hint("there is no previous item"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : UndefinedValue.Hint("there is no next item"),
        "cycle" => new BuiltinFunction("cycle", (_, args) => args.Positional.Count == 0
            ? throw new TemplateException("no items for cycling given")
            : args.Positional[Index0 % args.Positional.Count]),
        "changed" => new BuiltinFunction("changed", (renderer, args) =>
        {
            var now = args.Positional.ToArray();
            bool changed = _lastChanged is null || now.Length != _lastChanged.Length
                || now.Where((v, i) => !Operators.AreEqual(renderer, v, _lastChanged[i])).Any();
            _lastChanged = now;
            return Bool(changed);
        }),
        _ => null,
    };

    public override Value Call(Renderer renderer, CallArgs args)
    {
        if (recurse is null)
            throw new TemplateException("Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
        if (args.Positional.Count != 1)
            throw new TemplateException("loop() takes exactly one argument");
        return recurse(args.Positional[0]);
    }
}

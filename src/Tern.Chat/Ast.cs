namespace Tern.Chat;

// The syntax tree of a template. Every node keeps its source line for error messages.

internal abstract record Expr(int Line);

internal sealed record ConstExpr(Value Value, int Line) : Expr(Line);

internal sealed record NameExpr(string Name, int Line) : Expr(Line);

/// <summary><c>ns.attr</c> as an assignment target.</summary>
internal sealed record NsRefExpr(string Name, string Attr, int Line) : Expr(Line);

internal sealed record ListExpr(List<Expr> Items, bool IsTuple, int Line) : Expr(Line);

internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);

internal sealed record GetAttrExpr(Expr Target, string Name, int Line) : Expr(Line);

internal sealed record GetItemExpr(Expr Target, Expr Index, int Line) : Expr(Line);

internal sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);

internal sealed record CallSyntax(List<Expr> Positional, List<(string Name, Expr Value)> Named, Expr? DynArgs, Expr? DynKwargs)
{
    public static readonly CallSyntax Empty = new([], [], null, null);
}

internal sealed record CallExpr(Expr Callee, CallSyntax Args, int Line) : Expr(Line);

/// <summary><c>input | name(args)</c>; <see cref="Input"/> is null inside filter blocks and block sets.</summary>
internal sealed record FilterExpr(Expr? Input, string Name, CallSyntax Args, int Line) : Expr(Line);

internal sealed record TestExpr(Expr Input, string Name, CallSyntax Args, int Line) : Expr(Line);

/// <summary>Op is "not", "-" or "+".</summary>
internal sealed record UnaryExpr(string Op, Expr Operand, int Line) : Expr(Line);

/// <summary>Op is one of + - * / // % ** ~ and or.</summary>
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line) : Expr(Line);

/// <summary>A (possibly chained) comparison; ops are == != &lt; &lt;= &gt; &gt;= in notin.</summary>
internal sealed record CompareExpr(Expr First, List<(string Op, Expr Operand)> Rest, int Line) : Expr(Line);

internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line) : Expr(Line);

internal abstract record Stmt(int Line);

internal sealed record TextStmt(string Text, int Line) : Stmt(Line);

internal sealed record PrintStmt(Expr Value, int Line) : Stmt(Line);

internal sealed record IfStmt(List<(Expr Test, List<Stmt> Body)> Branches, List<Stmt> Else, int Line) : Stmt(Line);

internal sealed record ForStmt(Expr Target, Expr Iterable, Expr? Filter, List<Stmt> Body, List<Stmt> Else, bool Recursive, int Line) : Stmt(Line);

internal sealed record SetStmt(Expr Target, Expr Value, int Line) : Stmt(Line);

internal sealed record SetBlockStmt(Expr Target, FilterExpr? Filter, List<Stmt> Body, int Line) : Stmt(Line);

/// <summary>Parameters with defaults aligned to the last ones, as in Python.</summary>
internal sealed record MacroStmt(string Name, MacroSignature Signature, List<Stmt> Body, int Line) : Stmt(Line);

internal sealed record CallBlockStmt(CallExpr Call, MacroSignature Signature, List<Stmt> Body, int Line) : Stmt(Line);

/// <summary>
/// A macro's parameters (defaults align to the last ones) and whether its body mentions the special names
/// <c>caller</c>, <c>kwargs</c> and <c>varargs</c>, which decide, as in Jinja2, what extra arguments it accepts.
/// </summary>
internal sealed record MacroSignature(List<string> Params, List<Expr> Defaults)
{
    public bool UsesCaller { get; set; }

    public bool CatchKwargs { get; set; }

    public bool CatchVarargs { get; set; }
}

internal sealed record FilterBlockStmt(FilterExpr Filter, List<Stmt> Body, int Line) : Stmt(Line);

internal sealed record WithStmt(List<(Expr Target, Expr Value)> Assignments, List<Stmt> Body, int Line) : Stmt(Line);

internal sealed record BreakStmt(int Line) : Stmt(Line);

internal sealed record ContinueStmt(int Line) : Stmt(Line);

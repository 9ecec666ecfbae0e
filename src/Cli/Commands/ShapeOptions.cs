using System.CommandLine;

namespace ArchNet.Cli.Commands;

/// <summary>What every command that needs static input shapes shares: the <c>--dim NAME=SIZE</c> option
/// (parsed by <see cref="ArchNet.IR.InputShapes.ParseDims"/>, applied by <see cref="ArchNet.IR.InputShapes.Bind"/>).</summary>
internal static class ShapeOptions
{
    public static Option<string[]> DimOption(string purpose) => new("--dim")
    {
        Description = $"Size of a symbolic input dimension, NAME=SIZE (repeatable; * for every one), {purpose}.",
        Arity = ArgumentArity.ZeroOrMore,
    };
}

using System.CommandLine;
using ArchNet.IR;

namespace ArchNet.Cli.Commands;

/// <summary>What every command that needs static input shapes shares: the <c>--dim NAME=SIZE</c> option
/// (parsed by <see cref="ParseDims"/>, applied by <see cref="InputShapes.Bind"/>), and the option names of the settings
/// the library's errors speak of.</summary>
internal static class ShapeOptions
{
    public static Option<string[]> DimOption(string purpose) => new("--dim")
    {
        Description = $"Size of a symbolic input dimension, NAME=SIZE (repeatable; * for every one), {purpose}.",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Parses <c>NAME=N</c> pairs as given on the command line.</summary>
    public static Dictionary<string, long> ParseDims(IEnumerable<string> pairs)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.LastIndexOf('=');
            if (eq <= 0 || !long.TryParse(pair[(eq + 1)..], out var value) || value < 1)
                throw new ArchNetException($"--dim expects NAME=SIZE with SIZE >= 1 (NAME may be * for every symbolic dimension), found '{pair}'");
            result[pair[..eq]] = value;
        }
        return result;
    }

    /// <summary>An error as the user reads it: the library names the setting it is about by concept, and the message
    /// starts with the option that sets it (<c>--dim seqence: no input dimension ...</c>).</summary>
    public static string Message(ArchNetException e) => e.Setting switch
    {
        Setting.DimensionSize => Prefixed("--dim", e),
        Setting.InputShape => Prefixed("--input-shape", e),
        Setting.EdgeLayers => Prefixed("--edge-layers", e),
        Setting.Attention => Prefixed("--attention", e),
        _ => e.Message,
    };

    private static string Prefixed(string option, ArchNetException e) =>
        $"{option}{(e.SettingValue is null ? "" : " " + e.SettingValue)}: {e.Message}";
}

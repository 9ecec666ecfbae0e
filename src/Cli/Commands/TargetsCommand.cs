using System.CommandLine;
using ArchNet.Capabilities;
using ArchNet.IR;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc targets</c> lists the shipped capability files; <c>archnetc targets show NAME</c> prints a target's
/// supported-operators document, generated from the file alone; <c>archnetc targets --docs DIR</c> writes every
/// document as DIR/NAME.md (how docs/targets/ is produced, so the docs and the tool cannot disagree).
/// </summary>
internal static class TargetsCommand
{
    /// <summary>Capability files travel beside archnetc (copied from the repo's targets/ at build time).</summary>
    public static TargetCatalog Catalog() => new(Path.Combine(AppContext.BaseDirectory, "targets"));

    public static Command Create()
    {
        var docs = new Option<string?>("--docs") { Description = "Write the supported-operators document of every target into this folder as NAME.md." };
        var command = new Command("targets", "List the chips archnetc knows (capability files in targets/).");
        command.Options.Add(docs);
        command.SetAction(parse =>
        {
            var catalog = Catalog();
            if (parse.GetValue(docs) is { } dir)
            {
                Directory.CreateDirectory(dir);
                foreach (var name in catalog.Names)
                {
                    var path = Path.Combine(dir, name + ".md");
                    WriteAtomically(path, SupportedOpsDocument.Generate(catalog.Load(name)));
                    Console.Out.WriteLine($"wrote {path}");
                }
                return ExitCodes.Ok;
            }
            var rows = catalog.Names.Select(n => catalog.Load(n)).ToList();
            var width = Math.Max(4, rows.Select(r => r.Name.Length).DefaultIfEmpty(0).Max());
            Console.Out.WriteLine($"{"name".PadRight(width)}  {"ops",4}  vendor");
            foreach (var c in rows)
                Console.Out.WriteLine($"{c.Name.PadRight(width)}  {(c.Ops.Any(o => o.IsWildcard) ? "all" : c.Ops.Count().ToString()),4}  {c.Vendor}");
            return ExitCodes.Ok;
        });

        var name = new Argument<string>("NAME") { Description = "A target name, a path to a .json capability file, or a,b for an intersection." };
        var show = new Command("show", "Print a target's supported-operators document.");
        show.Arguments.Add(name);
        show.SetAction(parse =>
        {
            Console.Out.Write(SupportedOpsDocument.Generate(Catalog().Resolve(parse.GetValue(name)!)));
            return ExitCodes.Ok;
        });
        command.Subcommands.Add(show);
        return command;
    }

    /// <summary>Writes to a temporary name, then renames, so a reader never sees half a file.</summary>
    public static void WriteAtomically(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var temp = full + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, full, overwrite: true);
    }
}

using System.CommandLine;
using ArchNet.Compiler;
using ArchNet.IR;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc ops [--doc FILE]</c>: per op, what each part of the compiler has of it (shape inference, constant folding,
/// the emulator's float and integer kernels, the TorchSharp lowering, the C backend) and which shipped targets allow it
/// (<see cref="OpChecklist"/>); with --doc, written as the Markdown of docs/ops.md.
/// </summary>
internal static class OpsCommand
{
    public static Command Create()
    {
        var doc = new Option<string?>("--doc") { Description = "Write the table as Markdown into this file (how docs/ops.md is made)." };
        var command = new Command("ops", "List every op with what each part of the compiler has of it, and the shipped targets that allow it.");
        command.Options.Add(doc);
        command.SetAction(parse =>
        {
            var catalog = TargetsCommand.Catalog();
            var targets = catalog.Names.Select(catalog.Load).ToList();
            if (parse.GetValue(doc) is { } path)
            {
                TargetsCommand.WriteAtomically(path, OpChecklist.Markdown(targets));
                Console.Out.WriteLine($"wrote {path}");
                return ExitCodes.Ok;
            }
            Console.Out.WriteLine($"{"op",-28} shapes folding float integer torch c  allowed by");
            foreach (var r in OpChecklist.Rows(targets))
                Console.Out.WriteLine($"{r.Op,-28} {Y(r.ShapeInference),-6} {Y(r.ConstantFolding),-7} {Y(r.FloatEmulator),-5} {Y(r.IntegerEmulator),-7} " +
                    $"{Y(r.TorchLowering),-5} {Y(r.CBackend),-2} {string.Join(",", r.Targets)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Y(bool b) => b ? "yes" : "-";
}

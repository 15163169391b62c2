// Checks Swift sources without a Swift compiler: each file must parse with
// tree-sitter-swift without errors, the generated bindings must declare
// every exported type (names taken from the generated Kotlin, so both
// languages are held to the same list), and the XCTest file must use them.
//
// Usage: node check-swift.js <node_modules dir> <generated kotlin> <generated swift> <swift tests...>
"use strict";

const fs = require("fs");
const path = require("path");

const [modulesArg, kotlinFile, generatedSwift, ...testFiles] = process.argv.slice(2);
const modules = path.resolve(modulesArg);
const Parser = require(path.join(modules, "tree-sitter"));
const Swift = require(path.join(modules, "tree-sitter-swift"));

const parser = new Parser();
parser.setLanguage(Swift);

// Constructs UniFFI emits that tree-sitter-swift 0.7 does not know yet,
// each replaced by a blank of the same length so positions stay true.
// Anything else that fails to parse is reported.
const GRAMMAR_GAPS = [
  // A compiler directive between an attribute and its declaration.
  /^#if swift\(>=5\.8\)\n\s*@_documentation\(visibility: private\)\n#endif$/gm,
  // Swift 5.10's `nonisolated(unsafe)` modifier.
  /nonisolated\(unsafe\) /g,
  // A closure whose body is the empty tuple.
  /(?<=\{ )\(\)(?= \})/g,
];

function normalise(text) {
  let count = 0;
  for (const gap of GRAMMAR_GAPS) {
    text = text.replace(gap, (m) => { count++; return m.replace(/[^\n]/g, " "); });
  }
  return { text, count };
}

function parse(file) {
  const { text, count } = normalise(fs.readFileSync(file, "utf8"));
  if (count > 0) console.log(`swift: ${path.basename(file)}: ${count} construct(s) blanked for the grammar`);
  // The node binding reads input in chunks; size the buffer to the file.
  const tree = parser.parse(text, undefined, { bufferSize: text.length * 2 + 1024 });
  const errors = [];
  const declared = new Set();
  const identifiers = new Set();
  const walk = (node) => {
    if (node.type === "ERROR" || node.isMissing) {
      errors.push(`${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}: ${node.type}`);
    }
    if (node.type === "class_declaration" || node.type === "protocol_declaration") {
      const name = node.childForFieldName("name");
      if (name) declared.add(name.text);
    }
    if (node.type === "type_identifier" || node.type === "simple_identifier") identifiers.add(node.text);
    for (const child of node.children) walk(child);
  };
  walk(tree.rootNode);
  return { errors, declared, identifiers };
}

// Exported types as the Kotlin generator named them, in Swift spelling.
const kotlin = fs.readFileSync(kotlinFile, "utf8");
const exported = new Set();
for (const m of kotlin.matchAll(/^(?:public )?(?:data class|enum class|sealed class|interface|public interface|open class) (\w+)/gm)) {
  const name = m[1];
  if (/^(Uniffi|FfiConverter|RustBuffer|ForeignBytes|Disposable|NoHandle)/.test(name) || name.endsWith("Interface")) continue;
  exported.add(name.replace(/Exception$/, "Error"));
}

let failures = 0;
const generated = parse(generatedSwift);
for (const e of generated.errors) { console.log(`parse error: ${e}`); failures++; }
const missing = [...exported].filter((n) => !generated.declared.has(n));
for (const n of missing) { console.log(`not declared in ${generatedSwift}: ${n}`); failures++; }
console.log(`swift: ${path.basename(generatedSwift)} ${generated.errors.length ? "does NOT parse" : "parses"}, declares ${exported.size - missing.length}/${exported.size} exported types`);

for (const file of testFiles) {
  const tests = parse(file);
  for (const e of tests.errors) { console.log(`parse error: ${e}`); failures++; }
  const used = ["RecordingSession", "SessionConfig", "Frame", "Plane", "ImuSample", "LogSink", "EventSink", "VideoEncoder", "EgocapError",
    "KeyStore", "FileKeyStore", "SealingConfig", "ConsentTerms", "FaceBlurConfig", "FailClosedAlarm",
    "UploadQueue", "UploadQueueConfig", "HttpTransport", "ChunkJob", "ChunkJobOutcome"];
  for (const n of used.filter((n) => !tests.identifiers.has(n))) { console.log(`${file} never uses ${n}`); failures++; }
  console.log(`swift: ${path.basename(file)} ${tests.errors.length ? "does NOT parse" : "parses"} (${tests.declared.size} declarations)`);
}
process.exit(failures === 0 ? 0 : 1);

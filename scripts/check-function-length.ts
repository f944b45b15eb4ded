/**
 * Fails when a function's own code runs past MAX_LINES. A function's own lines are its lines minus those
 * of the functions nested in it, so a factory that only wires small methods together is judged by its
 * wiring, and each method by itself. Composition roots (main.ts, context.ts, app.ts) are exempt: wiring
 * a whole process is long by nature. Run by `pnpm lint`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const MAX_LINES = 60;
const EXEMPT = /(?:^|\/)(?:main|context|app)\.ts$|\.test\.ts$|\/schema\.ts$/;

type Fn = ts.FunctionDeclaration | ts.FunctionExpression | ts.ArrowFunction | ts.MethodDeclaration | ts.GetAccessorDeclaration | ts.SetAccessorDeclaration;
const isFunction = (n: ts.Node): n is Fn =>
  ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isArrowFunction(n) || ts.isMethodDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n);

function nameOf(fn: Fn): string {
  if (fn.name) return fn.name.getText();
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText();
  return '(anonymous)';
}

function longFunctions(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const line = (pos: number) => src.getLineAndCharacterOfPosition(pos).line;
  const span = (n: ts.Node) => line(n.getEnd()) - line(n.getStart()) + 1;
  const found: string[] = [];
  /** Lines of the functions directly nested in `node` (not deeper: those are inside these). */
  const nestedLines = (node: ts.Node): number => {
    let sum = 0;
    node.forEachChild(function walk(child) {
      if (isFunction(child)) sum += span(child);
      else child.forEachChild(walk);
    });
    return sum;
  };
  src.forEachChild(function visit(node) {
    if (isFunction(node) && node.body) {
      const own = span(node) - nestedLines(node.body);
      if (own > MAX_LINES) found.push(`${file}:${line(node.getStart()) + 1} ${nameOf(node)}: ${own} lines of its own (max ${MAX_LINES})`);
    }
    node.forEachChild(visit);
  });
  return found;
}

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'apps/*/src/*.ts', 'apps/*/src/**/*.ts', 'packages/*/src/*.ts', 'packages/*/src/**/*.ts', 'scripts/*.ts'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && !EXEMPT.test(f));
const problems = files.flatMap(longFunctions);
if (problems.length) {
  process.stderr.write(`${problems.join('\n')}\n${problems.length} function(s) too long: split them (comments say why, names say what).\n`);
  process.exit(1);
}
process.stdout.write(`function length: ${files.length} files, none over ${MAX_LINES} lines of its own\n`);

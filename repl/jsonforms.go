package repl

import (
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// jsonForms are the shapes of each command's --json data (Command.JSON;
// docs/schema/NAME.json is generated from them). A command missing here
// has no --json: see textOnly.
var jsonForms = map[string][]wire.Form{
	"alias": {{Data: []AliasView{}}},
	"ascii": {{Data: []AsciiView{}}},
	"audit": {
		{Data: audit.DumpResult{}},
		{When: "(the subcommand, several dumps)", Data: []audit.DumpResult{}},
	},
	"bt":      {{Data: []BtView{}}},
	"dis":     {{Data: []DisLine{}}},
	"eval":    {{Data: EvalView{}}},
	"foreach": {{Data: []ForeachItem{}}},
	"ftrace": {
		{Data: []FtraceView{}},
		{When: "--enabled", Data: []EnabledView{}},
	},
	"help": {{Data: []HelpView{}}},
	"info": {{Data: InfoView{}}},
	"irq":  {{Data: []IRQView{}}},
	"its":  {{Data: ITSView{}}},
	"klp": {
		{Data: KlpView{}},
		{When: "--tasks", Data: []KlpTaskView{}},
	},
	"kmem": {
		{When: "-i", Data: MemInfoView{}},
		{When: "-s", Data: []SlabView{}},
		{When: "ADDR", Data: []KmemAddrView{}},
	},
	"list":     {{Data: []wire.Hex{}}},
	"log":      {{Data: []LogView{}}},
	"mod":      {{Data: []ModView{}}},
	"p":        {{Data: PrintView{}}},
	"plt":      {{Data: PLTView{}}},
	"page":     {{Data: []PageView{}}},
	"ps":       {{Data: []PsView{}}},
	"rd":       {{Data: RdView{}}},
	"report":   {{Data: ReportDoc{}}},
	"runq":     {{Data: []RunqView{}}},
	"search":   {{Data: SearchView{}}},
	"set":      {{Data: SetView{}}},
	"stubs":    {{Data: StubsView{}}},
	"struct":   {{Data: []StructView{}}},
	"sym":      {{Data: []SymView{}}},
	"sys":      {{Data: SysView{}}},
	"task":     {{Data: []TaskView{}}},
	"tasks":    {{Data: TaskSummaryView{}}},
	"text":     {{Data: TextView{}}},
	"textpoke": {{Data: TextPokeView{}}},
	"timer":    {{Data: TimersView{}}},
	"trace":    {{Data: TraceView{}}},
	"union":    {{Data: []StructView{}}},
	"vtop":     {{Data: []VtopView{}}},
	"whatis":   {{Data: WhatisView{}}},
	"why":      {{Data: WhyView{}}},
}

// textOnly are the commands without --json, and why.
var textOnly = map[string]string{
	"quit": "prints nothing",
}

// withJSONForms fills Command.JSON from jsonForms.
func withJSONForms(cmds []Command) []Command {
	for i := range cmds {
		if cmds[i].JSON == nil {
			cmds[i].JSON = jsonForms[cmds[i].Name]
		}
	}
	return cmds
}

// TextOnly says why a command has no --json ("" when it has one).
func TextOnly(name string) string { return textOnly[name] }

package symbols

// BTFJobTypes is btfJobTypes for the external tests (jobtypes_test.go).
var BTFJobTypes = btfJobTypes

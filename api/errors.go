package api

import (
	"encoding/json"
	"net/http"
)

// Error is an API error: HTTP status, a message for people and, for bad
// input, the offending field (JSON name, dotted for nested: "reason").
type Error struct {
	Status  int
	Message string
	Field   string
	// Err is the underlying error, kept for errors.Is and for the status
	// mapping when Status is zero.
	Err error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Unwrap exposes the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong and, for bad input, which field.
type ErrorDetail struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// BadRequest is a 400 naming the field.
func BadRequest(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Message: msg}
}

// NotFound is a 404.
func NotFound(msg string, err error) *Error {
	return &Error{Status: http.StatusNotFound, Message: msg, Err: err}
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

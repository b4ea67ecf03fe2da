"""School payments: schools, students, invoices and immutable payments in; exact statements out."""

-- Feeds dbo.USER_INV_CHANGES from every change to dbo.IM_INV, made by any Counterpoint workstation.
-- Generated from crates/counterpoint/src/schema.rs; applied by `cpbridge cp migrate`. Safe to run again.

CREATE OR ALTER TRIGGER dbo.USER_TR_IM_INV_CHANGES ON dbo.IM_INV
AFTER INSERT, UPDATE, DELETE
AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO dbo.USER_INV_CHANGES (ITEM_NO, LOC_ID, CHANGED_DT)
    SELECT i.ITEM_NO, i.LOC_ID, GETUTCDATE()
    FROM inserted i
    LEFT JOIN deleted d ON d.ITEM_NO = i.ITEM_NO AND d.LOC_ID = i.LOC_ID
    WHERE d.ITEM_NO IS NULL
       OR EXISTS (SELECT i.QTY_ON_HND, i.QTY_COMMIT EXCEPT SELECT d.QTY_ON_HND, d.QTY_COMMIT)
    UNION ALL
    SELECT d.ITEM_NO, d.LOC_ID, GETUTCDATE()
    FROM deleted d
    WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.ITEM_NO = d.ITEM_NO AND i.LOC_ID = d.LOC_ID);
END;
GO
